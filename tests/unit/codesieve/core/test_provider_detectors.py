"""Provider token formats (codesieve.core.provider_detectors, issue 19): each provider's token is found
in code and configuration, and its look-alikes (placeholders, wrong checksums, pieces of longer
identifiers) are not. Every token is built at run time (codesieve/testing/secret_tokens.py), so no scanner
flags this file."""

from __future__ import annotations

import random
import zlib

import pytest

from codesieve.core.provider_detectors import (
    PROVIDER_RULES,
    age_bech32_valid,
    base62_crc32,
    crc32_suffix_valid,
)
from codesieve.core.redaction import apply_redactions
from codesieve.core.secret_scan import DEFAULT_DETECTORS, OWN_DETECTORS, scan_secrets
from codesieve.testing.secret_tokens import PROVIDER_TOKEN_MAKERS, with_crc32, wrong_crc32

RULES = {r.detector: r for r in PROVIDER_RULES}
# Where a secret sits in code and configuration (the benchmark's contexts).
CONTEXTS = (
    'API_KEY = "{t}"',
    "client = Client(token='{t}', timeout=30)",
    'settings = {{"auth": {{"token": "{t}"}}}}',
    "SERVICE_TOKEN={t}",
    "  token: {t}",
    "token = {t}",
    'curl -H "Authorization: Bearer {t}" https://api.example.com/v1/items',
)
# Only this part of each token is reported (see the rule's comment); trailing base64 padding is
# trimmed from every span.
_REPORTED = {"teams_webhook": lambda t: t.split("/IncomingWebhook/")[1].split("/")[0]}


def _token(detector: str, seed: int = 0) -> str:
    return PROVIDER_TOKEN_MAKERS[detector](random.Random(f"{detector}-{seed}"))


def test_every_rule_has_a_builder_a_source_and_is_ours() -> None:
    assert set(PROVIDER_TOKEN_MAKERS) == set(RULES)
    assert len(RULES) >= 60  # issue 19: the 60 most common providers
    for rule in PROVIDER_RULES:
        assert rule.source and rule.provider
        assert rule.detector in OWN_DETECTORS and rule.detector in DEFAULT_DETECTORS


@pytest.mark.parametrize("detector", sorted(RULES))
def test_provider_token_is_found_in_every_context_and_redacted(detector: str) -> None:
    for seed in range(3):
        token = _token(detector, seed)
        reported = _REPORTED.get(detector, lambda t: t.rstrip("="))(token)
        for context in CONTEXTS:
            text = "import os\n\n" + context.format(t=token) + "\nprint('done')\n"
            mine = [f for f in scan_secrets(text) if f.detector == detector]
            assert mine, (detector, context)
            assert text[mine[0].start : mine[0].end] == reported
            redacted = apply_redactions(text, scan_secrets(text))
            assert reported not in redacted and RULES[detector].redaction in redacted


@pytest.mark.parametrize("detector", sorted(RULES))
def test_provider_look_alikes_are_not_flagged(detector: str) -> None:
    token = _token(detector)
    seps = [i for i, c in enumerate(token[:16]) if c in "-_."]
    head = token[: seps[-1] + 1] if seps else token[:4]  # `sk-ant-api03-`, `hf_`, `AIza`
    look_alikes = [
        head + "x" * (len(token) - len(head)),  # documentation placeholders of the same shape
        head + "X" * (len(token) - len(head)),
        head + "...",  # the prefix alone, and a redacted example
        head + "<your-token>",
    ]
    if not token.startswith("https://"):  # a webhook URL glued to text is still that URL
        look_alikes.append("Z" + token + "Z9")  # a piece of a longer identifier
    for value in look_alikes:
        text = f'EXAMPLE = "{value}"\n'
        flagged = [f.detector for f in scan_secrets(text) if f.detector == detector]
        assert not flagged, (detector, value)


def test_base62_crc32_round_trips_to_zlib_crc32() -> None:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    for body in ("a" * 30, "q7Wm2Kx9" * 3 + "Ab3D9f", ""):
        encoded = base62_crc32(body)
        decoded = 0
        for ch in encoded:
            decoded = decoded * 62 + alphabet.index(ch)
        assert len(encoded) == 6 and decoded == zlib.crc32(body.encode())
    assert base62_crc32("") == "000000"  # CRC32 of nothing is 0, padded to six digits


@pytest.mark.parametrize("prefix", ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"])
def test_github_tokens_need_their_checksum(prefix: str) -> None:
    body = "Tz4Kq9Lm2Xw7Rv5Nb8Hc3Jd6Fg1Ps0"
    good, bad = with_crc32(prefix, body), wrong_crc32(prefix, body)
    assert crc32_suffix_valid(good) and not crc32_suffix_valid(bad)
    assert [f.detector for f in scan_secrets(f'token = "{good}"')] == ["github_token"]
    assert scan_secrets(f'token = "{bad}"') == []
    # detect-secrets' own GitHub plugin has no checksum: parity mode still reports the look-alike.
    assert [f.detector for f in scan_secrets(f'token = "{bad}"', parity=True)] == ["github_token"]


def test_github_fine_grained_tokens_are_matched_by_shape() -> None:
    rng = random.Random(5)
    alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    token = "github_pat_" + "".join(rng.choice(alnum) for _ in range(22)) + "_"
    token += "".join(rng.choice(alnum) for _ in range(59))
    findings = scan_secrets(f"GH_TOKEN={token}\n")
    assert [(f.detector, f.start, f.end) for f in findings] == [("github_token", 9, 9 + len(token))]
    assert scan_secrets(f"GH_TOKEN={token[:-3]}\n") == []  # too short for the format


def test_npm_tokens_need_their_checksum() -> None:
    body = "Hq3Zr8Vw1Ly6Tk4Mb9Dn2Gs7Jp5Cx0"
    assert [f.detector for f in scan_secrets(f"NPM_TOKEN={with_crc32('npm_', body)}")] == ["npm_access_token"]
    assert scan_secrets(f"NPM_TOKEN={wrong_crc32('npm_', body)}") == []


def test_age_keys_need_their_bech32_checksum() -> None:
    key = _token("age_secret_key")
    assert age_bech32_valid(key)
    swapped = key[:-1] + ("Q" if key[-1] != "Q" else "P")
    assert not age_bech32_valid(swapped)
    assert [f.detector for f in scan_secrets(f"# {key}\n")] == ["age_secret_key"]
    assert scan_secrets(f"# {swapped}\n") == []


def test_jwt_needs_an_alg_header_outside_parity_mode() -> None:
    import base64
    import json

    def part(obj: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

    claims = part({"sub": "1234567890", "name": "Ada", "iat": 1516239022})
    signed = f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{claims}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    no_alg = f"{part({'typ': 'JWT', 'kid': 'k1'})}.{claims}.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    assert [f.detector for f in scan_secrets(f'auth = "{signed}"')] == ["jwt"]
    assert scan_secrets(f'auth = "{no_alg}"') == []
    assert [f.detector for f in scan_secrets(f'auth = "{no_alg}"', parity=True)] == ["jwt"]


def test_parity_mode_leaves_provider_rules_out() -> None:
    text = "\n".join(f"K{i} = '{_token(d)}'" for i, d in enumerate(sorted(RULES))) + "\n"
    assert {f.detector for f in scan_secrets(text, parity=True)} & set(RULES) == set()
    assert {f.detector for f in scan_secrets(text)} >= set(RULES)


def test_hostile_repeated_prefixes_stay_bounded() -> None:
    """Each rule starts at a token boundary: a line of 10,000 repeated prefixes is scanned once per
    start, not once per start per copy (a quadratic pattern would take minutes here)."""
    for rule in PROVIDER_RULES:
        token = _token(rule.detector)
        line = (token[:8] + " ") * 10_000 + token[:8] * 2_000
        assert [f for f in scan_secrets(line) if f.detector == rule.detector] == []


@pytest.mark.parametrize(
    "line",
    [
        'stripe.api_key = "sk_live_' + "x" * 24 + '"',  # detect-secrets' format, filled with one character
        'TWILIO_SID = "AC' + "0" * 32 + '"',
        'url = "https://gitlab.example.com"; token = "glpat-' + "x" * 20 + '"',
        'password = "changeme"',  # keyword rule: a placeholder word
        'api_key = "your-api-key-here"',
    ],
)
def test_look_alikes_of_detect_secrets_formats_are_dropped_outside_parity_mode(line: str) -> None:
    assert scan_secrets(line + "\n") == []
    assert scan_secrets(line + "\n", parity=True) != []  # detect-secrets itself reports them


def test_a_wrong_checksum_is_not_rescued_by_a_keyword_guess() -> None:
    bad = wrong_crc32("ghp_", "Tz4Kq9Lm2Xw7Rv5Nb8Hc3Jd6Fg1Ps0")
    assert scan_secrets(f'GITHUB_API_KEY = "{bad}"\n') == []
    assert scan_secrets(f"GITHUB_TOKEN={bad}\n", syntax="dotenv") == []


@pytest.mark.parametrize("detector", sorted(set(RULES) - {"teams_webhook"}))
def test_a_provider_token_cut_off_mid_way_is_redacted(detector: str) -> None:
    """A completion cut by max_tokens inside a provider token: its prefix matches no fixed shape,
    so the cut-off scan matches the rule's prefix and what follows it. (A cut Teams webhook URL
    holds UUIDs, which detect-secrets' UUID heuristic drops: not covered.)"""
    from gateway.filters.chain import FilterChain

    token = _token(detector, 7)
    for fraction in (0.5, 0.9):
        cut = token[: int(len(token) * fraction)]
        text = f'import os\nKEY = "{cut}'
        result = FilterChain().check_completion(text, cut_off=True)
        assert cut[-8:] not in result.text, (detector, fraction)
        assert result.text.startswith("import os\nKEY = ")


def test_artifactory_keys_end_at_any_delimiter_outside_parity_mode() -> None:
    """detect-secrets' plugin needs whitespace, `"` or the line end after the key; a URL query is missed."""
    key = "AKC" + "p7Qz2Rk9Wm4Xv8Ln3Tb6Hc1Jd5Fs0Gy4Ue7Ia2Ob9Pc3Qd6Re1Sf5Tg8Uh2Vi7Wj4Xk0Yl3Zm"
    line = f'URL = "https://repo.example.com/api?apikey={key}&page=2"\n'
    assert [line[f.start : f.end] for f in scan_secrets(line)] == [key]
    assert scan_secrets(line, parity=True) == []


def test_formats_corrected_or_added_after_the_gitleaks_cross_check() -> None:
    """Issue 19 cross-check with gitleaks' rule list: the token forms we lacked are found, with the
    new rules' look-alikes (a fingerprinted asset name, placeholders) left alone."""
    rng = random.Random(19)
    alnum = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    hexa = "0123456789abcdef"

    def r(alphabet: str, n: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(n))

    found = {
        "harness_pat": "sat." + r(alnum, 22) + "." + r(alnum, 24) + "." + r(alnum, 20),
        "easypost_api_key": "EZTK" + r(alnum, 54),
        "flyio_token": "fm2_" + r(alnum + "+/", 160) + "==",
        "sourcegraph_token": "sgp_" + r(hexa, 40),
    }
    for detector, token in found.items():
        text = f'client = Client("{token}")\n'
        assert [f.detector for f in scan_secrets(text)] == [detector], detector
    assets = [
        "/static/favicon.ico-" + r(hexa, 32) + ".png",
        'PREFECT_API_KEY = "pnu_' + "X" * 36 + '"',
        "token = sha256~" + "x" * 43,
    ]
    for text in assets:
        assert scan_secrets(text + "\n") == [], text
