# Two entry points: `make demo` runs clinmem end to end on the bundled cohort,
# `make test` runs the test suite. Both create or reuse the virtual
# environment in $(VENV) and install what they need first.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
comma := ,
# torch goes in first: with no torch installed, a plain `torch` requirement
# pulls a multi-GB CUDA build. Override TORCH_SPEC for another build.
TORCH_SPEC ?= torch==2.13.0
# Optional extras installed with clinmem; CI adds ray and dp to test them too.
EXTRAS ?= test
# One stamp per set of extras, so asking for other extras installs them.
STAMP := $(VENV)/.clinmem-installed-$(subst $(comma),-,$(EXTRAS))
PYTEST_ARGS ?=

.PHONY: demo test lint install clean-demo

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[$(EXTRAS)]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/clinmem demo

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check benchmark tests benchmarks
	$(BIN)/ruff format --check benchmark tests benchmarks

clean-demo:
	rm -rf demo-output site
