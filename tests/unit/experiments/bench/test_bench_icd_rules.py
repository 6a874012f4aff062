"""The Insecure Code Detector rules are read from the installed codeshield package, per language."""

from __future__ import annotations

import pytest

from experiments.bench.icd_rules import LANGUAGES, load_regex_rules, rules_root, semgrep_config, semgrep_rule_cwes


def test_rules_come_from_the_installed_package() -> None:
    root = rules_root()
    assert "site-packages" in str(root) and root.name == "rules"
    assert (root / "config.yaml").is_file()


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_has_cwe_tagged_regex_rules(language: str) -> None:
    rules = load_regex_rules(language)
    assert rules, language
    assert all(r.cwe.startswith("CWE-") for r in rules)
    assert all(r.rule_id for r in rules)  # ids may repeat: codeshield files two rust rules under one id


def test_cpp_adds_the_c_rules_and_use_case_filtering_applies() -> None:
    c_ids = {r.rule_id for r in load_regex_rules("c")}
    cpp_ids = {r.rule_id for r in load_regex_rules("cpp")}
    assert c_ids < cpp_ids
    md5 = [r for r in load_regex_rules("python") if r.rule_id == "insecure-md5-hash-usage"]
    assert md5 and md5[0].cwe == "CWE-328" and md5[0].pattern.search("h = hashlib.md5(b'x')")


def test_semgrep_only_where_codeshield_uses_it() -> None:
    assert semgrep_config("php") is None and semgrep_config("rust") is None
    for language in ("c", "cpp", "csharp", "java", "javascript", "python"):
        path = semgrep_config(language)
        assert path is not None and path.name == f"{language}_cyberseceval.json"
    assert semgrep_rule_cwes("python")["unsafe-pickle-use"] == "CWE-502"
    assert semgrep_rule_cwes("rust") == {}


def test_unknown_language() -> None:
    with pytest.raises(ValueError, match="unknown language 'cobol'"):
        load_regex_rules("cobol")
