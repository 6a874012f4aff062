"""detect-secrets' own per-line scan, the reference our scanner must match (tests and benchmarks/filters.py)."""

from __future__ import annotations

import time

from codesieve.core.secret_scan import DETECTOR_SPECS, OWN_DETECTORS

# detect-secrets' default heuristic filters (no allowlist comments, no baseline).
_HEURISTICS = (
    "is_sequential_string",
    "is_potential_uuid",
    "is_likely_id_string",
    "is_templated_secret",
    "is_prefixed_with_dollar_sign",
    "is_indirect_reference",
    "is_not_alphanumeric_string",
)


def detect_secrets_per_line(text: str, detectors: frozenset[str]) -> tuple[set[tuple[int, str, str | None]], float]:
    """(line index, detector, secret value) for each finding of the same plugins, and the scan's seconds
    (plugin set-up excluded, so a benchmark compares scanning with scanning)."""
    from detect_secrets.core import scan as ds_scan
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.settings import transient_settings

    # detect-secrets has only its own plugins (ours are compared in parity mode without them).
    specs = [s for s in DETECTOR_SPECS if s.detector in detectors - OWN_DETECTORS]
    filters = [{"path": f"detect_secrets.filters.heuristic.{name}"} for name in _HEURISTICS]
    with transient_settings({"plugins_used": [{"name": s.plugin_class} for s in specs], "filters_used": filters}):
        plugin_classes: dict[str, type] = get_mapping_from_secret_type_to_class()
        by_class = {plugin.__name__: t for t, plugin in plugin_classes.items()}
        type_to_id = {by_class[s.plugin_class]: s.detector for s in specs}
        lines = list(enumerate(text.split("\n"), start=1))
        started = time.perf_counter()
        found = {
            (p.line_number - 1, type_to_id[p.type], p.secret_value)
            for p in ds_scan._process_line_based_plugins(lines, filename="completion.txt")
        }
        return found, time.perf_counter() - started
