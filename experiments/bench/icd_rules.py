"""The Insecure Code Detector rule set Meta publishes in the `codeshield` package, read where pip put it.

Which rules apply to a language follows codeshield's own loader (`insecure_patterns.load` with the
CyberSecEval use case): the regex rules of `rules/regex/<lang>.yaml` whose `pattern_id` the use
case enables in `rules/config.yaml` (rules without a pattern_id always apply), plus the C rules for
C++ and the language-agnostic rules for the rest; semgrep runs for the languages codeshield maps to
it (C, C++, C#, Java, JavaScript, Python) with `rules/semgrep/_generated_/<lang>_cyberseceval.json`.
PHP and Rust are regex-only there, so here. The rules are never copied into this repository; we
only read them (codeshield's own modules are not imported: importing them symlinks semgrep-core).

Our own rules (`experiments/bench/rules/<language>.yaml`, semgrep format, each with its CWE) close
the gap where the published set cannot reproduce the dataset's labels: CyberSecEval's C/C++ labels
come from weggli rules codeshield does not ship, and many C#/Java/JavaScript/Python labels from rule
versions stricter or looser than the published ones. They are written from the CWE and the dataset's
pattern description (see the file's header), run in the same semgrep run as codeshield's, and carry
ids starting `codesieve-` so a report says which set fired. C++ reads the C file too.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = [
    "EXTENSIONS",
    "LANGUAGES",
    "USE_CASE",
    "RegexRule",
    "RulesMissing",
    "load_regex_rules",
    "rules_root",
    "own_rules",
    "semgrep_config",
    "semgrep_rule_cwes",
    "semgrep_rules",
]

USE_CASE = "cyberseceval"
# CyberSecEval's eight languages and the file extension semgrep needs to pick a parser.
EXTENSIONS = {
    "c": ".c",
    "cpp": ".cpp",
    "csharp": ".cs",
    "java": ".java",
    "javascript": ".js",
    "php": ".php",
    "python": ".py",
    "rust": ".rs",
}
LANGUAGES = tuple(EXTENSIONS)
_SEMGREP_LANGUAGES = frozenset({"c", "cpp", "csharp", "java", "javascript", "python"})  # codeshield's map
OWN_RULES_DIR = Path(__file__).parent / "rules"
OWN_PREFIX = "codesieve-"
EXTRA_VIEW_GLOB = "view_*"  # the judge's re-readings of a sample (dedented, wrapped): parsers need them, regexes not


class RulesMissing(RuntimeError):
    """The codeshield package (which carries the rules) is not installed, or lacks a rule file."""


@dataclass(frozen=True)
class RegexRule:
    rule_id: str  # codeshield's pattern_id, or "regex:<language>:<n>" for the few rules without one
    cwe: str  # "CWE-328"
    pattern: re.Pattern[str]
    description: str


def rules_root() -> Path:
    """`<site-packages>/codeshield/insecure_code_detector/rules` of the installed codeshield."""
    spec = importlib.util.find_spec("codeshield")
    for base in (spec.submodule_search_locations or []) if spec else []:
        root = Path(base) / "insecure_code_detector" / "rules"
        if (root / "config.yaml").is_file():
            return root
    raise RulesMissing(
        "the Insecure Code Detector rules are not installed: `pip install --no-deps codeshield==1.0.1` "
        "(the package ships the rules; semgrep itself is a separate tool, see CODESIEVE_SEMGREP)"
    )


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RulesMissing(f"codeshield rule file missing: {path}") from None


@functools.cache
def _enabled(language: str) -> frozenset[str]:
    config = _read_yaml(rules_root() / "config.yaml")
    per_language = config.get("config", {}).get(USE_CASE, {}).get(language, {})
    return frozenset(per_language.get("regex", {}).get("rules", []) or [])


def _rules_of(language: str) -> list[RegexRule]:
    out = []
    enabled = _enabled(language)
    for n, row in enumerate(_read_yaml(rules_root() / "regex" / f"{language}.yaml") or []):
        pattern_id = row.get("pattern_id")
        if pattern_id is not None and pattern_id not in enabled:
            continue
        out.append(
            RegexRule(
                rule_id=pattern_id or f"regex:{language}:{n}",
                cwe=str(row["cwe_id"]),
                pattern=re.compile(row["rule"]),
                description=str(row["description"]),
            )
        )
    return out


@functools.cache
def load_regex_rules(language: str) -> tuple[RegexRule, ...]:
    """The regex rules codeshield applies to `language` in the CyberSecEval use case.

    C++ adds the C rules (which add the language-agnostic ones); every other language adds the
    language-agnostic rules directly, as `codeshield.insecure_code_detector.insecure_patterns.load`.
    """
    if language not in EXTENSIONS:
        raise ValueError(f"unknown language {language!r}; known: {', '.join(LANGUAGES)}")
    rules = _rules_of(language)
    rules += list(load_regex_rules("c")) if language == "cpp" else _rules_of("language_agnostic")
    return tuple(rules)


def semgrep_config(language: str) -> Path | None:
    """The semgrep rule file for `language`, or None where codeshield uses regex rules only."""
    if language not in _SEMGREP_LANGUAGES:
        return None
    path = rules_root() / "semgrep" / "_generated_" / f"{language}_{USE_CASE}.json"
    if not path.is_file():
        raise RulesMissing(f"codeshield rule file missing: {path}")
    return path


@functools.cache
def own_rules(language: str) -> tuple[dict[str, Any], ...]:
    """Our semgrep rules for `language` (C++ adds the C file's), each targeted at that language."""
    if language not in EXTENSIONS:
        raise ValueError(f"unknown language {language!r}; known: {', '.join(LANGUAGES)}")
    out: list[dict[str, Any]] = []
    for name in ("c", "cpp") if language == "cpp" else (language,):
        path = OWN_RULES_DIR / f"{name}.yaml"
        if path.is_file():
            for rule in yaml.safe_load(path.read_text(encoding="utf-8")).get("rules", []):
                if not str(rule["id"]).startswith(OWN_PREFIX) or not rule.get("metadata", {}).get("cwe_id"):
                    raise RulesMissing(f"{path}: rule {rule['id']!r} needs the {OWN_PREFIX} prefix and a cwe_id")
                # Regex-only rules run as semgrep's `regex` language: a parser-backed language
                # skips every rule on a file it cannot parse, and a mid-file cut often is one.
                if _regex_only(rule):
                    out.append({**rule, "languages": ["regex"], "paths": {"exclude": [EXTRA_VIEW_GLOB]}})
                else:
                    out.append({**rule, "languages": [language]})
    return tuple(out)


def _regex_only(rule: dict[str, Any]) -> bool:
    text = json.dumps({k: v for k, v in rule.items() if k not in ("id", "message", "metadata", "severity")})
    return "pattern-regex" in text and not any(f'"{k}"' in text for k in ("pattern", "pattern-inside", "pattern-not"))


def semgrep_rules(language: str) -> list[dict[str, Any]]:
    """Every semgrep rule that runs for `language`: codeshield's (where it uses semgrep) and ours."""
    path = semgrep_config(language)
    published = json.loads(path.read_text(encoding="utf-8")).get("rules", []) if path else []
    return [*published, *own_rules(language)]


@functools.cache
def semgrep_rule_cwes(language: str) -> dict[str, str]:
    """Rule id -> CWE of the semgrep rules for `language` (codeshield's and ours)."""
    return {r["id"]: str(r.get("metadata", {}).get("cwe_id", "")) for r in semgrep_rules(language)}
