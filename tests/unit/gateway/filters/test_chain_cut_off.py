"""Secrets at the end of a completion cut off by max_tokens (scan_cut_off_tail, check_completion(cut_off=True)).

A prefix of a secret no longer matches its detector, so without the cut-off scan it would reach the
user: the first test of each pair shows that leak, the second that the cut-off scan closes it.
"""

from __future__ import annotations

import random
import string

import pytest

from codesieve.core.secret_scan import scan_cut_off_tail
from gateway.filters.base import FilterPolicy
from gateway.filters.chain import FilterChain

_RNG = random.Random(7)
AWS_KEY_ID = "AKIA" + "".join(_RNG.choice(string.ascii_uppercase + string.digits) for _ in range(16))
AWS_SECRET = "".join(_RNG.choice(string.ascii_letters + string.digits + "/+") for _ in range(40))
GH_TOKEN = "ghp_" + "".join(_RNG.choice(string.ascii_letters + string.digits) for _ in range(36))
PREAMBLE = 'import os\n\nREGION = "eu-west-1"\n'

# (completion cut off inside a secret, the secret's prefix that must not come back)
CUT_OFF = {
    "aws secret key, 34 of 40 chars": (
        PREAMBLE + f'AWS_SECRET_ACCESS_KEY = "{AWS_SECRET[:34]}',
        AWS_SECRET[:34],
    ),
    "aws key id, 12 of 20 chars": (PREAMBLE + f'AWS_ACCESS_KEY_ID = "{AWS_KEY_ID[:12]}', AWS_KEY_ID[:12]),
    "github token, 24 of 40 chars": (PREAMBLE + f"headers = {{'Authorization': 'token {GH_TOKEN[:24]}", GH_TOKEN[:24]),
    "password, unterminated": (PREAMBLE + 'DB_PASSWORD = "q8Vz!r2Lm#x9Tw', "q8Vz!r2Lm#x9Tw"),
}


@pytest.mark.parametrize("case", sorted(CUT_OFF))
def test_a_cut_off_secret_prefix_is_not_detected_by_the_plain_scan(case: str) -> None:
    text, prefix = CUT_OFF[case]
    result = FilterChain(FilterPolicy()).check_completion(text)
    assert prefix in result.text  # the leak the cut-off scan exists for


@pytest.mark.parametrize("case", sorted(CUT_OFF))
def test_a_cut_off_secret_prefix_is_redacted(case: str) -> None:
    text, prefix = CUT_OFF[case]
    result = FilterChain(FilterPolicy()).check_completion(text, cut_off=True)
    assert prefix not in result.text
    assert result.text.startswith(PREAMBLE)  # only the secret's span goes
    cut = [f for f in result.findings if f.type == "secret" and f.detail.get("cut_off")]
    assert cut and all(f.end == len(text) for f in cut)
    assert all(prefix not in str(f.to_dict()) for f in result.findings)


def test_block_policy_blocks_a_cut_off_secret() -> None:
    text, _ = CUT_OFF["aws key id, 12 of 20 chars"]
    result = FilterChain(FilterPolicy(secrets="block")).check_completion(text, cut_off=True)
    assert result.is_blocked and result.text == ""


@pytest.mark.parametrize(
    "text",
    [
        PREAMBLE + "total = compute_su",
        PREAMBLE + 'self.api_key = settings.get("api_ke',
        PREAMBLE + 'digest = hashlib.sha256(b"abc").hexdig',
        PREAMBLE + 'log.info("connected to %s", hos',
        PREAMBLE + "for token in tokens:\n    ",
        PREAMBLE + 'KEY_NAME = "AWS_SECRET_ACCESS_KEY"',  # a complete line: nothing cut inside it
    ],
)
def test_ordinary_cut_off_code_is_left_alone(text: str) -> None:
    assert scan_cut_off_tail(text) == []
    assert FilterChain(FilterPolicy()).check_completion(text, cut_off=True).text == text


def test_a_complete_secret_is_reported_once() -> None:
    text = PREAMBLE + f'AWS_ACCESS_KEY_ID = "{AWS_KEY_ID}"'
    plain = FilterChain(FilterPolicy()).check_completion(text)
    cut = FilterChain(FilterPolicy()).check_completion(text, cut_off=True)
    assert AWS_KEY_ID not in cut.text
    assert [f.reason for f in cut.findings] == [f.reason for f in plain.findings]
