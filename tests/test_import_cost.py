"""Importing clinmem loads no model and no deep-learning library."""

import subprocess
import sys

HEAVY_MODULES = ("torch", "transformers", "ray", "opacus")


def test_importing_every_module_loads_no_heavy_library():
    code = (
        "import importlib, pkgutil, sys\n"
        "import benchmark\n"
        "for module in pkgutil.walk_packages(benchmark.__path__, 'benchmark.'):\n"
        "    importlib.import_module(module.name)\n"
        f"print(','.join(m for m in {HEAVY_MODULES!r} if m in sys.modules))\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.strip() == ""
