"""Golden tests for codesieve.core.secret_scan against tests/fixtures/secrets and detect-secrets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesieve.core.provider_detectors import PROVIDER_RULES
from codesieve.core.redaction import apply_redactions
from codesieve.core.secret_scan import (
    ALL_DETECTORS,
    DEFAULT_DETECTORS,
    SecretFinding,
    scan_secret_values,
    scan_secrets,
)
from codesieve.testing.reference_scans import detect_secrets_per_line
from codesieve.testing.secret_tokens import with_crc32

FIXTURES = Path(__file__).resolve().parents[4] / "tests" / "fixtures" / "secrets"


def _with_valid_checksum(case: dict) -> dict:
    """The fixture stores GitHub and npm tokens with a wrong checksum (so no scanner flags the file);
    the scanner verifies it outside parity mode, so the test completes the checksum here."""
    if case["detector"] not in ("github_token", "npm_token"):
        return case
    start, end = case["secret_start"], case["secret_end"]
    token = case["text"][start:end]
    fixed = with_crc32(token[:4], token[4:34])
    return {**case, "text": case["text"][:start] + fixed + case["text"][end:]}


POSITIVES = [_with_valid_checksum(json.loads(line)) for line in (FIXTURES / "positives.jsonl").read_text().splitlines()]
NEGATIVES = [json.loads(line) for line in (FIXTURES / "negatives.jsonl").read_text().splitlines()]


def _detect_secrets_per_line(text: str, detectors: frozenset[str]) -> set[tuple[int, str, str]]:
    return detect_secrets_per_line(text, detectors)[0]


def test_fixture_covers_every_enabled_detector() -> None:
    covered = {case["detector"] for case in POSITIVES}
    # public_ip is unreachable with detect-secrets' heuristics (an IP has no letter); the provider
    # formats have their own positives and negatives in test_provider_detectors.py.
    assert covered == ALL_DETECTORS - {"public_ip"} - {r.detector for r in PROVIDER_RULES}


@pytest.mark.parametrize("case", POSITIVES, ids=lambda c: c["detector"])
def test_each_detector_finds_its_secret_and_redaction_removes_it(case: dict) -> None:
    findings = scan_secrets(case["text"], detectors=ALL_DETECTORS)
    mine = [f for f in findings if f.detector == case["detector"]]
    assert mine, f"{case['detector']} not detected"
    secret = case["text"][case["secret_start"] : case["secret_end"]]
    # The span overlaps the planted secret, and no secret-sized piece of it survives redaction.
    assert any(f.start < case["secret_end"] and f.end > case["secret_start"] for f in mine)
    redacted = apply_redactions(case["text"], findings)
    assert secret[-12:] not in redacted
    assert mine[0].placeholder in redacted


@pytest.mark.parametrize("case", NEGATIVES, ids=lambda c: c["kind"])
def test_non_secrets_are_not_reported_by_default(case: dict) -> None:
    assert scan_secrets(case["text"]) == []


def test_negative_precision_with_entropy_detectors_matches_expectation() -> None:
    """With the opt-in entropy detectors, digests and random base64 are flagged (as detect-secrets
    flags them); templated values, UUIDs and indirect references never are."""
    flagged = {c["kind"] for c in NEGATIVES if scan_secrets(c["text"], detectors=ALL_DETECTORS)}
    assert flagged == {"sha256", "sha1", "md5", "base64_testdata"}
    precision_on_negatives = 1 - len([c for c in NEGATIVES if scan_secrets(c["text"])]) / len(NEGATIVES)
    assert precision_on_negatives == 1.0  # default detectors: no finding on any negative


def test_finding_repr_never_holds_the_secret() -> None:
    for case in POSITIVES:
        secret = case["text"][case["secret_start"] : case["secret_end"]]
        for finding in scan_secrets(case["text"], detectors=ALL_DETECTORS):
            assert secret not in repr(finding) and secret[-10:] not in repr(finding)
            assert set(SecretFinding.__slots__) == {"detector", "placeholder", "start", "end"}


def test_golden_spans() -> None:
    text = 'x = 1\naws_key = "AKIAZ3MHQWER7TYU5IOP"\ntoken = "' + with_crc32("ghp_", "aB3" * 10) + '"\n'
    assert scan_secrets(text) == [
        SecretFinding("aws_access_key", "<AWS_ACCESS_KEY>", 17, 37),
        SecretFinding("github_token", "<GITHUB_TOKEN>", 48, 88),
    ]


def test_every_occurrence_of_a_value_is_reported() -> None:
    text = 'password = "Tr0ub4dor&3xyz"  # not "Tr0ub4dor&3xyz"\n'
    spans = [(f.start, f.end) for f in scan_secrets(text)]
    assert spans == [(12, 26), (36, 50)]


def test_credential_in_call_is_kept_unless_parity() -> None:
    text = 'client = OpenAI(api_key="sk-proj-' + "A1b2" * 5 + "T3BlbkFJ" + "C3d4" * 5 + '")\n'
    assert [f.detector for f in scan_secrets(text)] == ["openai_token"]
    # detect-secrets' indirect-reference line filter drops it.
    assert scan_secrets(text, parity=True) == []
    assert _detect_secrets_per_line(text, DEFAULT_DETECTORS) == set()


def test_private_key_span_covers_the_body() -> None:
    body = "MIIEowIBAAKCAQEAr8x9Qm2wZ4nV7tY1kL3pB6cD8fH0jG5sA2eR"
    text = f'KEY = """-----BEGIN RSA PRIVATE KEY-----\n{body}\n{body[::-1]}\n-----END RSA PRIVATE KEY-----"""\n'
    [finding] = scan_secrets(text)
    redacted = apply_redactions(text, [finding])
    assert body not in redacted and body[::-1] not in redacted and "END RSA" not in redacted


def test_unknown_detector_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown secret detectors"):
        scan_secrets("x", detectors=frozenset({"nope"}))


def test_parity_with_detect_secrets_on_the_fixture_corpus() -> None:
    text = "\n".join(c["text"] for c in POSITIVES + NEGATIVES)
    for detectors in (DEFAULT_DETECTORS, ALL_DETECTORS):
        ours = {(i, d, v) for i, d, v, _ in scan_secret_values(text, detectors=detectors, parity=True)}
        assert ours == _detect_secrets_per_line(text, detectors)
        assert len(ours) >= len(POSITIVES) - 2


_FRAGMENTS = st.sampled_from(
    [
        "password",
        "api_key",
        "secret",
        " = ",
        ":",
        '"',
        "'",
        "AKIA",
        "ABCDEFGHIJKLMNOP",
        "0123456789",
        "xoxb-12345-",
        "ghp_",
        "aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5",
        "://user:",
        "@host",
        "eyJ",
        "sk_live_",
        "\n",
        " ",
        "(",
        ")",
        "[",
        "]",
        "$",
        "{",
        "}",
        "cl_key",
        "ibm_key",
        "AccountKey=",
        "e3b0c44298fc1c149afbf4c8996fb924",
        "-us12",
        "T3BlbkFJ",
        "12345678:",
        "SG.",
        "glpat-",
        "İ",
        "ſ",
    ]
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_FRAGMENTS, min_size=1, max_size=40).map("".join))
def test_parity_with_detect_secrets_on_generated_text(text: str) -> None:
    """The prefilters are necessary conditions: no detection detect-secrets makes is missed."""
    ours = {(i, d, v) for i, d, v, _ in scan_secret_values(text, detectors=ALL_DETECTORS, parity=True)}
    assert ours == _detect_secrets_per_line(text, ALL_DETECTORS)


@pytest.mark.parametrize(
    ("keyword", "folded"),
    [("api_key", "api_\u212aey"), ("password", "pa\u017f\u017fword"), ("private_key", "pr\u0131vate_key")],
)
def test_case_folded_keywords_are_found_in_non_ascii_text(keyword: str, folded: str) -> None:
    """The keyword prefilter lower-cases the text; the characters Python's IGNORECASE folds to ASCII (the
    Kelvin sign, the long s, the dotless i) must still match as the plugins' regexes do, while texts with
    only other non-ASCII characters take the fast lower-casing path."""
    value = "Xk9mQ2vT7pL4wR8zN3bY6cH1"
    plain = f'# café\n{keyword} = "{value}"\n'
    expected = [(f.detector, plain[f.start : f.end]) for f in scan_secrets(plain)]
    assert expected, "the ASCII keyword assignment is a finding"
    text = plain.replace(keyword, folded)
    assert [(f.detector, text[f.start : f.end]) for f in scan_secrets(text)] == expected
