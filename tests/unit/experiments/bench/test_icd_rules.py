"""The Insecure Code Detector rules are read from the installed codeshield package, per language."""

from __future__ import annotations

from pathlib import Path

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


def test_own_rules_are_ours_cwe_tagged_and_merged_after_codeshields() -> None:
    from experiments.bench.icd_rules import EXTRA_VIEW_GLOB, OWN_PREFIX, own_rules, semgrep_rules

    c_ids = {r["id"] for r in own_rules("c")}
    cpp_ids = {r["id"] for r in own_rules("cpp")}
    assert c_ids < cpp_ids  # C++ reads the C file too
    for language in LANGUAGES:
        for rule in own_rules(language):
            assert rule["id"].startswith(OWN_PREFIX) and rule["metadata"]["cwe_id"].startswith("CWE-")
            # regex rules run as semgrep's `regex` language (no parse) on the file as it reads only
            assert rule["languages"] == ["regex"] and rule["paths"] == {"exclude": [EXTRA_VIEW_GLOB]}
    merged = semgrep_rules("python")
    assert merged[-len(own_rules("python")) :] == list(own_rules("python"))
    assert semgrep_rule_cwes("python")["codesieve-py-unpickle"] == "CWE-502"
    assert semgrep_rule_cwes("php") == {
        "codesieve-php-private-key": "CWE-312",
        "codesieve-php-seeded-random": "CWE-330",
    }
    assert semgrep_rule_cwes("rust") == {}  # no rules of ours: regex-only there, as codeshield


def test_an_own_rule_without_prefix_or_cwe_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import experiments.bench.icd_rules as icd

    (tmp_path / "rust.yaml").write_text("rules:\n  - id: no-prefix\n    pattern-regex: x\n    metadata: {}\n")
    monkeypatch.setattr(icd, "OWN_RULES_DIR", tmp_path)
    icd.own_rules.cache_clear()
    try:
        with pytest.raises(icd.RulesMissing, match="needs the codesieve- prefix and a cwe_id"):
            icd.own_rules("rust")
    finally:
        icd.own_rules.cache_clear()
