"""External tools the tests run for real: where to find them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from codesieve.testing.services import REPO


def semgrep_binary() -> str:
    """semgrep's path: CODESIEVE_TEST_SEMGREP, else PATH, else the one `make test` installs under .tools/.

    semgrep lives in its own environment (its pins clash with vLLM's). FileNotFoundError when it is
    nowhere: a test that needs it fails with the message, never skips.
    """
    for candidate in (
        os.environ.get("CODESIEVE_TEST_SEMGREP"),
        shutil.which("semgrep"),
        str(REPO / ".tools" / "semgrep" / "bin" / "semgrep"),
    ):
        if candidate and Path(candidate).is_file():
            return candidate
    raise FileNotFoundError(
        "semgrep is needed: install it (pipx install semgrep==1.185.0) or set CODESIEVE_TEST_SEMGREP"
    )
