"""Make `experiments` resolve to the product package, not to tests/integration/experiments/.

tests/integration/conftest.py puts tests/integration on sys.path (for its `services` helper), so
the test folder `tests/integration/experiments` is found first as a namespace package and shadows
the editable-installed `experiments` package. Putting the repository root first fixes the lookup.
(Lead: `pythonpath = ["."]` in [tool.pytest.ini_options] would fix this for every package.)
"""

from __future__ import annotations

import sys
from pathlib import Path

_REPO = str(Path(__file__).resolve().parents[4])
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)
for _name in [m for m in sys.modules if m == "experiments" or m.startswith("experiments.")]:
    if getattr(sys.modules[_name], "__file__", None) is None:  # a namespace-package shadow
        del sys.modules[_name]
