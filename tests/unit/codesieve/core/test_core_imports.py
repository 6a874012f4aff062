"""codesieve.core imports none of the packages built on it (gateway, dedup, experiments, training, the CLI)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

_CHECK = """
import importlib, pkgutil, sys
import codesieve.core as core
for info in pkgutil.walk_packages(core.__path__, "codesieve.core."):
    importlib.import_module(info.name)
top = {"gateway", "dedup", "experiments", "training"}
print(sorted(m for m in sys.modules if m.split(".")[0] in top or m.startswith(("codesieve.cli", "codesieve.app"))))
"""
ROOT = Path(__file__).resolve().parents[4]  # the checkout under test, not an installed copy


def test_core_imports_no_package_built_on_it() -> None:
    # a fresh interpreter: this test process has imported everything already
    done = subprocess.run(
        [sys.executable, "-c", _CHECK], capture_output=True, text=True, check=True, timeout=120, cwd=ROOT
    )
    assert done.stdout.strip() == "[]"


def test_the_check_sees_a_forbidden_import() -> None:
    leaky = _CHECK.replace("import codesieve.core as core", "import codesieve.core as core, dedup.config")
    done = subprocess.run(
        [sys.executable, "-c", leaky], capture_output=True, text=True, check=True, timeout=120, cwd=ROOT
    )
    assert "dedup.config" in done.stdout
