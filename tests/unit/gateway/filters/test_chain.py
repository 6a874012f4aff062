"""gateway.filters.chain: policy actions, blocking, redaction and finding shape."""

from __future__ import annotations

import sysconfig
from pathlib import Path

import pytest

from codesieve.core.index_store import build_index
from codesieve.testing.secret_tokens import with_crc32
from gateway.filters.base import FilterPolicy, Finding
from gateway.filters.chain import FilterChain

STDLIB = Path(sysconfig.get_paths()["stdlib"])
AWS = "AKIAZ3MHQWER7TYU5IOP"
GH = with_crc32("ghp_", "q7Wm2Kx9" * 3 + "Ab3D9f")


@pytest.fixture(scope="module")
def index():  # type: ignore[no-untyped-def]
    return build_index(
        [
            {
                "content": (STDLIB / "textwrap.py").read_text(),
                "repo": "py/textwrap",
                "path": "Lib/textwrap.py",
                "licence": "GPL-3.0-only",
            },
            {
                "content": (STDLIB / "shlex.py").read_text(),
                "repo": "py/shlex",
                "path": "Lib/shlex.py",
                "licence": "MIT",
            },
        ]
    )


def _copy(name: str, start: int = 4000, length: int = 1500) -> tuple[str, str]:
    text = (STDLIB / name).read_text()
    return text[:start], text[start : start + length]


def test_secrets_are_redacted_with_reason_codes_and_no_values() -> None:
    completion = f'aws_key = "{AWS}"\ntoken = "{GH}"\n'
    result = FilterChain().check_completion(completion, context_before="import os\n")
    assert result.text == 'aws_key = "<AWS_ACCESS_KEY>"\ntoken = "<GITHUB_TOKEN>"\n'
    assert not result.is_blocked
    assert [(f.type, f.reason, f.action) for f in result.findings] == [
        ("secret", "secret.aws_access_key", "redact"),
        ("secret", "secret.github_token", "redact"),
    ]
    dumped = repr(result.findings) + repr([f.to_dict() for f in result.findings])
    assert AWS not in dumped and GH not in dumped


def test_block_policy_for_secrets_returns_empty_text() -> None:
    result = FilterChain(FilterPolicy(secrets="block")).check_completion(f'k = "{AWS}"\n')
    assert result.is_blocked and result.text == ""
    assert result.findings[0].action == "block"


def test_licence_policy_per_family() -> None:
    chain = FilterChain()
    gpl = chain.check_completion("# SPDX-License-Identifier: GPL-2.0-only\nx = 1\n")
    mit = chain.check_completion("# SPDX-License-Identifier: MIT\nx = 1\n")
    assert gpl.is_blocked and gpl.findings[0].reason == "licence.gpl"
    assert not mit.is_blocked and mit.findings[0].action == "annotate"
    lenient = FilterChain(FilterPolicy(licence_actions={"gpl": "annotate", "copyleft": "block"}))
    assert not lenient.check_completion("# SPDX-License-Identifier: GPL-2.0-only\n").is_blocked
    assert lenient.check_completion("# SPDX-License-Identifier: AGPL-3.0\n").is_blocked


def test_provenance_copyleft_blocks_with_attribution(index) -> None:  # type: ignore[no-untyped-def]
    before, completion = _copy("textwrap.py")
    result = FilterChain(index=index).check_completion(completion, context_before=before)
    assert result.is_blocked and result.text == ""
    prov = [f for f in result.findings if f.type == "provenance"]
    assert prov[0].reason == "provenance.copyleft" and prov[0].action == "block"
    assert prov[0].detail["repo"] == "py/textwrap" and prov[0].detail["licence"] == "GPL-3.0-only"
    assert prov[0].detail["matched_lexemes"] >= 65 and prov[0].detail["line_start"] >= 1


def test_provenance_permissive_annotates(index) -> None:  # type: ignore[no-untyped-def]
    before, completion = _copy("shlex.py")
    result = FilterChain(index=index).check_completion(completion, context_before=before)
    assert not result.is_blocked and result.text == completion
    [prov] = [f for f in result.findings if f.type == "provenance"]
    assert (prov.reason, prov.action, prov.detail["path"]) == ("provenance.permissive", "annotate", "Lib/shlex.py")


def test_threshold_is_configurable(index) -> None:  # type: ignore[no-untyped-def]
    before, completion = _copy("shlex.py", length=400)
    strict = FilterChain(FilterPolicy(min_match_lexemes=10_000), index=index)
    assert strict.scan(completion, context_before=before) == []


def test_scan_prompt_reports_secrets_only() -> None:
    prompt = f'# SPDX-License-Identifier: GPL-3.0\nkey = "{AWS}"\n'
    findings = FilterChain().scan_prompt(prompt)
    assert [(f.type, f.action) for f in findings] == [("secret", "redact")]


def test_finding_to_dict_shape() -> None:
    f = Finding("licence", "licence.mit", 1, 5, "annotate", {"licence_family": "mit"})
    assert f.to_dict() == {
        "type": "licence",
        "reason": "licence.mit",
        "start": 1,
        "end": 5,
        "action": "annotate",
        "licence_family": "mit",
    }


def test_entropy_detectors_are_opt_in() -> None:
    completion = 'SIGNING = "' + "k9Qz3Xw7Lp2Rt8Vb5Nm1Hc6Jd4Fs0Gy+AeUiOo/" + '"\n'
    assert FilterChain().check_completion(completion).findings == []
    opted_in = FilterChain(FilterPolicy(secret_detectors=frozenset({"base64_high_entropy_string"})))
    result = opted_in.check_completion(completion)
    assert [f.reason for f in result.findings] == ["secret.base64_high_entropy_string"]
    assert result.text == 'SIGNING = "<HIGH_ENTROPY_STRING>"\n'


def test_policy_validation() -> None:
    with pytest.raises(ValueError):
        FilterPolicy(secrets="annotate")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        FilterPolicy(provenance_actions={"copyleft": "redact"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="secret_detectors"):
        FilterPolicy(secret_detectors=frozenset({"nope"}))
