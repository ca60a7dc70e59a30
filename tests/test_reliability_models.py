"""Model faults: a broken adapter ends in a clear error or a 'failed' probe with
its reason, never in a traceback or a silently wrong number.

The adapters are real (a smoothed unigram with one fault each, from
``faulty_adapters``) and reach the runner the way third-party models do,
through the ``clinmem.models`` entry-point group.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from faulty_adapters import UnigramAdapter, install_faulty_plugin

from benchmark.cli.main import main
from benchmark.data.sequence import build_sequence
from benchmark.models.base import GenerationRequest, TokenScores
from benchmark.models.registry import ModelLoadError
from benchmark.results.schema import schema_errors
from benchmark.runner.executor import LocalExecutor, ModelCallError, redact_codes
from benchmark.runner.model_checks import (
    LowCoverageError,
    check_code_coverage,
    code_coverage,
    describe_adapter,
)

TINY_SUITE = """\
kind: suite
id: reliability_tiny
name: Reliability test suite
description: Two attributes, two tiers and few patients, so that fault tests run fast.
version: 1
attributes: [depression, drug_overdose]
tiers: [demographics_first_10, half_history]
subgroups: [all]
probes:
  membership:
    attacks: [loss, min_k]
  attribute_inference: {samples: 2, max_new_tokens: 8, temperature: 1.0}
  reconstruction: {samples: 2, max_new_tokens: 8, temperature: 1.0}
  embedding: {regularization: 1.0}
  utility: {top_k: 10}
cohort: {max_sequence_length: 64, max_patients_per_group: 30}
bootstrap: {resamples: 20}
seed: 0
"""
GENERATION_PROBES = ("attribute_inference", "reconstruction")
SCORING_PROBES = ("membership", "utility")
CODE = re.compile(r"[A-Z0-9]+//[^\s\"',\]]+")


@pytest.fixture(scope="module")
def setup(tmp_path_factory, bundled_cohort) -> dict[str, Path]:
    """A 150-patient cohort, the tiny suite and the faulty plugin on sys.path."""
    import dataclasses

    from benchmark.data.jsonl import write_jsonl

    root = tmp_path_factory.mktemp("model-faults")
    cohort = dataclasses.replace(bundled_cohort, patients=bundled_cohort.patients[:150])
    paths = {
        "root": root,
        "cohort": write_jsonl(cohort, root / "cohort.jsonl"),
        "suite": root / "tiny.yaml",
        "site": install_faulty_plugin(root / "site"),
    }
    paths["suite"].write_text(TINY_SUITE)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(paths["site"]))
        yield paths


def run_model(setup, model: str, *options: str):
    """Run the tiny suite on ``model``; return the CLI result and the output path."""
    output = setup["root"] / f"{model.replace(':', '_').replace('+', '_')}.json"
    output.unlink(missing_ok=True)
    result = CliRunner().invoke(
        main,
        [
            "--log-level", "warning",
            "run",
            "--model", model,
            "--suite", str(setup["suite"]),
            "--cohort", str(setup["cohort"]),
            "--output", str(output),
            "--no-cache",
            "--no-progress",
            *options,
        ],
    )  # fmt: skip
    # A ClickException or a clean exit ends in SystemExit; anything else is a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    return result, output


@pytest.fixture(scope="module")
def faulty_results(setup) -> dict[str, dict]:
    """Results of runs whose adapters fail in one method each; faults of different
    methods share a run, because each probe uses one method."""
    runs = {
        "nan": "faulty:nan+empty+nan_embedding",
        "minus_inf": "faulty:minus_inf+overlong",
        "logits": "faulty:logits+int_codes",
        "bounded": "faulty:bounded",
        "raising": "faulty:raising",
    }
    documents = {}
    for name, model in runs.items():
        result, output = run_model(setup, model)
        assert result.exit_code == 0, result.output
        documents[name] = json.loads(output.read_text())
        documents[name]["_text"] = output.read_text()
    return documents


def probe(document: dict, name: str) -> dict:
    return next(p for p in document["probes"] if p["probe"] == name)


@pytest.mark.slow
def test_faulty_results_are_schema_valid(faulty_results):
    for name, document in faulty_results.items():
        clean = {key: value for key, value in document.items() if key != "_text"}
        assert schema_errors(clean) == [], name


@pytest.mark.slow
def test_nan_scores_fail_scoring_probes(faulty_results):
    document = faulty_results["nan"]

    for name in SCORING_PROBES:
        assert probe(document, name)["status"] == "failed"
        assert "NaN log-probabilities" in probe(document, name)["reason"]
        assert probe(document, name)["metrics"] == []
    assert document["summary"]["membership_auroc"]["value"] is None
    assert document["summary"]["utility_loss"]["value"] is None
    assert "probe_failed:membership" in document["flags"]


@pytest.mark.slow
def test_minus_infinity_fails_scoring_probes(faulty_results):
    document = faulty_results["minus_inf"]

    for name in SCORING_PROBES:
        assert probe(document, name)["status"] == "failed"
        assert "NaN or infinite" in probe(document, name)["reason"]
    assert document["summary"]["membership_auroc"]["value"] is None


@pytest.mark.slow
def test_logits_are_rejected(faulty_results):
    reason = probe(faulty_results["logits"], "membership")["reason"]

    assert probe(faulty_results["logits"], "membership")["status"] == "failed"
    assert "above 0" in reason
    assert "not logits" in reason


@pytest.mark.slow
def test_empty_generations_fail_generation_probes(faulty_results):
    document = faulty_results["nan"]

    for name in GENERATION_PROBES:
        assert probe(document, name)["status"] == "failed"
        assert "empty continuations and no code" in probe(document, name)["reason"]
    assert document["summary"]["reconstruction_member_advantage"]["value"] is None
    assert document["summary"]["attribute_member_advantage"]["value"] is None


@pytest.mark.slow
def test_overlong_generations_fail(faulty_results):
    for name in GENERATION_PROBES:
        result = probe(faulty_results["minus_inf"], name)
        assert result["status"] == "failed"
        assert "13 codes, longer than max_new_tokens=8" in result["reason"]


@pytest.mark.slow
def test_generation_that_never_ends_is_bounded(faulty_results):
    document = faulty_results["bounded"]

    for name in (*GENERATION_PROBES, *SCORING_PROBES, "embedding"):
        assert probe(document, name)["status"] == "ok", probe(document, name)["reason"]
    assert document["summary"]["reconstruction_member_advantage"]["value"] is not None


@pytest.mark.slow
def test_non_string_codes_fail(faulty_results):
    for name in GENERATION_PROBES:
        result = probe(faulty_results["logits"], name)
        assert result["status"] == "failed"
        assert "a code of type int" in result["reason"]


@pytest.mark.slow
def test_nan_embeddings_fail_embedding(faulty_results):
    result = probe(faulty_results["nan"], "embedding")

    assert result["status"] == "failed"
    assert "NaN or infinite values in" in result["reason"]


@pytest.mark.slow
def test_raising_adapter_fails_every_probe(faulty_results):
    document = faulty_results["raising"]

    for name, method in (("membership", "score"), ("reconstruction", "generate")):
        reason = probe(document, name)["reason"]
        assert probe(document, name)["status"] == "failed"
        assert f"faulty:raising.{method} failed: ValueError: cannot" in reason
    assert probe(document, "embedding")["status"] == "failed"


@pytest.mark.slow
def test_raising_adapter_codes_kept_out_of_result(faulty_results):
    reason = probe(faulty_results["raising"], "membership")["reason"]

    assert "<code>" in reason
    assert CODE.findall(faulty_results["raising"]["_text"]) == []


def test_narrow_vocabulary_is_refused(setup):
    result, output = run_model(setup, "faulty:narrow")

    assert result.exit_code == 1
    assert "the vocabulary of model 'faulty:narrow' contains" in result.output
    assert "below the minimum of 50%" in result.output
    assert "--min-code-coverage" in result.output
    assert not output.exists()


def test_lower_coverage_minimum_runs_and_reports(setup):
    result, output = run_model(setup, "faulty:narrow", "--min-code-coverage", "0")

    assert result.exit_code == 0, result.output
    model = json.loads(output.read_text())["model"]
    assert model["cohort_code_coverage"] < 0.5
    assert model["unknown_codes"] > 10


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("factory_error", "failed to load 'faulty:factory_error': RuntimeError: the weights"),
        ("digest_error", "failed to report its digest: OSError: weights file vanished"),
        ("no_digest", "digest() returned None"),
        ("unknown_capability", "unknown capabilities ['telepathy']"),
    ],
)
def test_adapter_load_faults_are_messages(setup, fault, message):
    result, output = run_model(setup, f"faulty:{fault}")

    assert result.exit_code == 1
    assert message in result.output
    assert not output.exists()


def test_coverage_option_range_is_checked(setup):
    result, _ = run_model(setup, "faulty:", "--min-code-coverage", "1.5")

    assert result.exit_code == 2
    assert "1.5 is not in the range 0<=x<=1" in result.output


# The executor's checks, one fault at a time, without a run around them.


@pytest.fixture(scope="module")
def unigram(bundled_cohort) -> UnigramAdapter:
    sequences = [build_sequence(p, 64).tokens for p in bundled_cohort.members[:100]]
    return UnigramAdapter("unigram", sequences)


def test_executor_accepts_a_sound_model(unigram):
    executor = LocalExecutor(unigram, None, progress=False)
    sequence = unigram.codes[:5]
    request = GenerationRequest(
        tuple(sequence), samples=3, max_new_tokens=4, temperature=1.0, seed=1
    )

    [log_probs] = executor.score([sequence])
    [samples] = executor.generate([request])

    assert np.all(log_probs < 0)
    assert len(samples) == 3
    assert all(len(sample) <= 4 for sample in samples)


def test_executor_lets_minus_infinity_through(unigram):
    class Impossible(UnigramAdapter):
        def score(self, sequences):
            return [np.full(len(s), -np.inf) for s in sequences]

    model = Impossible("impossible", [unigram.codes])

    [log_probs] = LocalExecutor(model, None, progress=False).score([unigram.codes[:3]])

    assert np.all(np.isneginf(log_probs))


def test_executor_rejects_string_continuations(unigram):
    class Strings(UnigramAdapter):
        def generate(self, requests):
            return [["SNOMED//1"] * r.samples for r in requests]

    model = Strings("strings", [unigram.codes])
    request = GenerationRequest((), samples=2, max_new_tokens=20, temperature=1.0, seed=0)

    with pytest.raises(ModelCallError, match="continuation of type str"):
        LocalExecutor(model, None, progress=False).generate([request])


def test_executor_allows_empty_continuations_when_some_are_not(unigram):
    class MostlyEmpty(UnigramAdapter):
        def generate(self, requests):
            answers = [[()] * r.samples for r in requests]
            answers[-1][-1] = (self.codes[0],)
            return answers

    model = MostlyEmpty("mostly-empty", [unigram.codes])
    requests = [GenerationRequest((c,), 2, 4, 1.0, 0) for c in unigram.codes[:10]]

    answers = LocalExecutor(model, None, progress=False).generate(requests)

    assert answers[-1][-1] == (model.codes[0],)


def test_executor_allows_empty_answers_to_zero_tokens(unigram):
    class Empty(UnigramAdapter):
        def generate(self, requests):
            return [[()] * r.samples for r in requests]

    model = Empty("empty", [unigram.codes])
    request = GenerationRequest((), samples=2, max_new_tokens=0, temperature=1.0, seed=0)

    assert LocalExecutor(model, None, progress=False).generate([request]) == [[(), ()]]


def test_executor_rejects_ragged_embeddings(unigram):
    class Ragged(UnigramAdapter):
        def embed(self, sequences):
            return [np.zeros(len(s)) for s in sequences]

    model = Ragged("ragged", [unigram.codes])

    with pytest.raises(ModelCallError, match="ragged.embed failed"):
        LocalExecutor(model, None, progress=False).embed([unigram.codes[:2], unigram.codes[:3]])


def test_redaction_keeps_the_reason_readable():
    message = "KeyError: 'ICD10CM//F32.9' not in vocabulary"

    assert redact_codes(message) == "KeyError: '<code>' not in vocabulary"
    assert redact_codes("x" * 2000).endswith(" [cut]")
    assert len(redact_codes("x" * 2000)) < 600


# Hugging Face folders: weights load only from safetensors, remote code only on request.


def _gpt2_folder(folder: Path, *, weights: str) -> Path:
    """A GPT-2 style folder with a config, a tokenizer file and the given weights file."""
    folder.mkdir(parents=True)
    config = {"model_type": "gpt2", "n_layer": 1, "n_head": 1, "n_embd": 8, "vocab_size": 10}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "tokenizer.json").write_text("{}")
    (folder / weights).write_bytes(b"not weights")
    return folder


def test_pickle_weights_are_refused_unopened(setup, tmp_path):
    import pickle

    marker = tmp_path / "pickle-ran"

    class Payload:
        # Unpickling this object calls Path.touch(marker).
        def __reduce__(self):
            return (Path.touch, (marker,))

    folder = _gpt2_folder(tmp_path / "pickled", weights="README.md")
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(Payload()))

    result, output = run_model(setup, f"hf:{folder}")

    assert result.exit_code == 1
    assert "has only pickle weights (pytorch_model.bin)" in result.output
    assert "convert them to safetensors" in result.output
    assert not marker.exists()
    assert not output.exists()


@pytest.mark.slow
def test_remote_code_is_not_run_without_flag(setup, tmp_path):
    folder = _gpt2_folder(tmp_path / "remote", weights="model.safetensors")
    marker = tmp_path / "remote-code-ran"
    config = {
        "model_type": "clinmem_untrusted",
        "auto_map": {
            "AutoConfig": "untrusted.UntrustedConfig",
            "AutoModelForCausalLM": "untrusted.UntrustedModel",
        },
    }
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "untrusted.py").write_text(f"open({str(marker)!r}, 'w').close()\n")

    result, output = run_model(setup, f"hf:{folder}")

    assert result.exit_code == 1
    assert "failed to load the causal LM" in result.output
    assert "trust_remote_code" in result.output
    assert not marker.exists()
    assert not output.exists()


def test_trust_remote_code_flag_warns(setup, tmp_path):
    folder = _gpt2_folder(tmp_path / "trusted", weights="model.safetensors")

    result, output = run_model(setup, f"hf:{folder}", "--trust-remote-code")

    assert "trust_remote_code is on: loading" in result.output
    assert result.exit_code == 1
    assert "failed to load the causal LM" in result.output
    assert not output.exists()


# The adapter checks before a run, one fault at a time.


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("no_model_id", "has no model_id"),
        ("vocabulary_string", "vocabulary() returned str; it must return a set of strings"),
        ("vocabulary_numbers", "vocabulary() contains 2 entries that are not code strings"),
        ("capabilities_error", "failed to report its capabilities: KeyError"),
        ("capabilities_number", "capabilities returned int"),
    ],
)
def test_describe_adapter_names_the_fault(unigram, fault, message):
    class Broken(UnigramAdapter):
        @property
        def capabilities(self):
            if fault == "capabilities_error":
                raise KeyError("device")
            if fault == "capabilities_number":
                return 3
            return super().capabilities

        def vocabulary(self):
            if fault == "vocabulary_string":
                return "SNOMED//1"
            if fault == "vocabulary_numbers":
                return frozenset({"SNOMED//1", 1, 2})
            return super().vocabulary()

    model = Broken("broken", [unigram.codes])
    if fault == "no_model_id":
        del model.model_id

    with pytest.raises(ModelLoadError, match=re.escape(message)):
        describe_adapter(model, "broken")


def test_describe_adapter_of_a_sound_model(unigram):
    description = describe_adapter(unigram, "unigram")

    assert description.digest.startswith("sha256:")
    assert description.capabilities == frozenset({"score", "generate", "embed"})
    assert description.vocabulary == frozenset(unigram.codes)


@pytest.mark.parametrize(
    ("statistic", "message"),
    [("log_probs", "returned NaN log-probabilities"), ("std", "NaN in the mean, std or rank")],
)
def test_executor_checks_score_details(unigram, statistic, message):
    class Details(UnigramAdapter):
        @property
        def capabilities(self):
            return frozenset({"score", "score_details"})

        def score_details(self, sequences):
            answers = []
            for values in self.score(sequences):
                arrays = {
                    "log_probs": values,
                    "mean": values - 1,
                    "std": np.ones_like(values),
                    "rank": np.zeros_like(values),
                }
                arrays[statistic] = np.full_like(values, np.nan)
                answers.append(TokenScores(**arrays))
            return answers

    model = Details("details", [unigram.codes])

    with pytest.raises(ModelCallError, match=message):
        LocalExecutor(model, None, progress=False).score_details([unigram.codes[:3]])


def test_coverage_counts_occurrences(bundled_cohort):
    sequences = [build_sequence(p, 64) for p in bundled_cohort.patients[:20]]
    tokens = [t for s in sequences for t in s.tokens]
    common = max(set(tokens), key=tokens.count)

    coverage = code_coverage(frozenset({common}), sequences)

    assert coverage.tokens == len(tokens)
    assert coverage.share == pytest.approx(tokens.count(common) / len(tokens))
    assert coverage.unknown_codes == len(set(tokens)) - 1
    with pytest.raises(LowCoverageError, match="below the minimum of 90%"):
        check_code_coverage(coverage, 0.9, "one-code")
    check_code_coverage(coverage, 0.0, "one-code")
