"""Secret detection over a whole text: detect-secrets 1.5.0's detectors and heuristics, one pass.

detect-secrets scans line by line, calling every plugin on every line through its dependency
injection machinery. Here each detector's *prefilter* regex (a necessary condition, e.g.
`AKIA|ASIA|...` for AWS keys) runs once over the whole text; only the few lines it hits go
through the plugins' own `analyze_string` and the same heuristic filters, in the same order.
Findings are therefore identical to detect-secrets' per-line scan with the same plugins
(checked by benchmarks/filters.py), at a fraction of the cost.

Deliberate differences from the detect-secrets CLI (`parity=True` removes the last four):
- the `pragma: allowlist secret` line filter is NOT honoured: a model must not be able to
  whitelist its own output;
- file-name filters (lock files, swagger, binary extensions) do not apply: a completion has no file;
- the indirect-reference line filter (`x = f(...)`) only drops keyword and entropy guesses, so
  `OpenAI(api_key="sk-...")` is still caught;
- our own detectors run too: extra_detectors (OpenAI project keys, URL passwords) and
  provider_detectors (62 provider token formats, checksums verified), and GitHub tokens and JWTs
  must pass our stricter checks (CRC32; an `alg` header);
- look-alikes are dropped: a credential shape filled with one character, a wrong checksum, a
  keyword value that is a template or placeholder word (issue 19);
- with `syntax=` (config_secrets.config_syntax of a file name or language), values assigned
  without quotes in configuration files are found too.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from detect_secrets.filters import heuristic
from detect_secrets.plugins.keyword import QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP

from codesieve.core.config_secrets import config_secret_spans, names_a_placeholder
from codesieve.core.provider_detectors import (
    PROVIDER_RULES,
    fails_its_checksum,
    has_filler_run,
    rule_plugin_class,
)

__all__ = [
    "ALL_DETECTORS",
    "DEFAULT_DETECTORS",
    "scan_cut_off_tail",
    "DETECTOR_SPECS",
    "DetectorSpec",
    "OWN_DETECTORS",
    "SecretFinding",
    "scan_secret_values",
    "scan_secrets",
]


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """One detect-secrets plugin: our stable id, its class, placeholder and prefilters.

    The prefilters are regexes of which at least one matches on every line where the plugin can
    report a secret (a necessary condition, never a sufficient one); none may match across a
    newline. `prefilter` runs on the text as is; `prefilter_lower` is written in lower case and
    runs on the lower-cased text (or case-insensitively on non-ASCII text, where lower-casing
    could move offsets or miss Unicode case folds).
    """

    detector: str
    plugin_module: str
    plugin_class: str
    placeholder: str
    prefilter: tuple[str, ...] = ()
    prefilter_lower: tuple[str, ...] = ()
    # A stricter plugin of ours (in codesieve.core.provider_detectors) used instead outside
    # parity mode: checksums verified, token boundaries required.
    own_plugin: str = ""


# Any run of >= 24 [\w-] characters, found at the start of its run so the scan stays linear:
# a superset of the long fixed-alphabet secrets (Cloudant's 24 letters / 64 hex, SoftLayer's 64,
# IBM IAM's 44, IBM COS's 48 hex), which all lie inside such a run.
_LONG_RUN = r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{24}"

# Plugin modules of our own detectors (everything else is `detect_secrets.plugins.<module>`).
_EXTRA = "codesieve.core.extra_detectors"
_PROVIDERS = "codesieve.core.provider_detectors"
_TOKEN_START = r"(?<![A-Za-z0-9_-])"
_CUT_OFF_TOKEN_TAIL = r"[A-Za-z0-9_.~+/=@:-]*"

# Prefilters are derived from each plugin's denylist in detect-secrets 1.5.0
# (detect_secrets/plugins/*.py); the comment says which part of the plugin regex they require.
DETECTOR_SPECS: tuple[DetectorSpec, ...] = (
    # ArtifactoryDetector: AKC[a-zA-Z0-9]{10,} | AP[\dABCDEF][a-zA-Z0-9]{8,}
    DetectorSpec(
        "artifactory_credentials",
        "artifactory",
        "ArtifactoryDetector",
        "<ARTIFACTORY_CREDENTIALS>",
        (r"AKC[a-zA-Z0-9]{10}|AP[\dA-F][a-zA-Z0-9]{8}",),
        own_plugin="ArtifactoryBoundedDetector",
    ),
    # AWSKeyDetector: key-id prefixes, or 'aws' (case-insensitive) before a 40-char secret key
    DetectorSpec(
        "aws_access_key", "aws", "AWSKeyDetector", "<AWS_ACCESS_KEY>", (r"A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA",), ("aws",)
    ),
    DetectorSpec(
        "azure_storage_key", "azure_storage_key", "AzureStorageKeyDetector", "<AZURE_STORAGE_KEY>", (r"AccountKey=",)
    ),
    DetectorSpec("basic_auth", "basic_auth", "BasicAuthDetector", "<BASIC_AUTH_PASSWORD>", (r"://",)),
    # CloudantDetector: 64 hex or 24 letters after a cl/cloudant keyword, or a cloudant.com URL
    DetectorSpec(
        "cloudant_credentials",
        "cloudant",
        "CloudantDetector",
        "<CLOUDANT_CREDENTIALS>",
        (_LONG_RUN,),
        (r"cloudant\.com",),
    ),
    DetectorSpec(
        "discord_bot_token",
        "discord",
        "DiscordBotTokenDetector",
        "<DISCORD_BOT_TOKEN>",
        (r"[MNO][a-zA-Z\d_-]{23,25}\.",),
    ),
    DetectorSpec(
        "github_token",
        "github_token",
        "GitHubTokenDetector",
        "<GITHUB_TOKEN>",
        (r"gh[pousr]_|github_pat_",),
        own_plugin="GitHubTokenCheckedDetector",
    ),
    DetectorSpec(
        "gitlab_token",
        "gitlab_token",
        "GitLabTokenDetector",
        "<GITLAB_TOKEN>",
        (r"gl(?:pat|dt|ft|soat|rt|cbt|imt|ptt|agent|oas)-|GR1348941",),
    ),
    # IbmCloudIamDetector: a 44-char [\w-] secret after a key/pass/token keyword
    DetectorSpec("ibm_cloud_iam_key", "ibm_cloud_iam", "IbmCloudIamDetector", "<IBM_CLOUD_IAM_KEY>", (_LONG_RUN,)),
    DetectorSpec("ibm_cos_hmac", "ibm_cos_hmac", "IbmCosHmacDetector", "<IBM_COS_HMAC>", (_LONG_RUN,)),
    # IPPublicDetector: four dotted octets; the literal '.' first keeps the scan on the fast path
    DetectorSpec("public_ip", "ip_public", "IPPublicDetector", "<PUBLIC_IP>", (r"\.(?<=\d\.)\d{1,3}\.\d{1,3}\.\d",)),
    DetectorSpec("jwt", "jwt", "JwtTokenDetector", "<JWT>", (r"eyJ",), own_plugin="JwtWithAlgDetector"),
    # KeywordDetector: every one of its regexes contains one of these denylisted words
    DetectorSpec(
        "secret_keyword",
        "keyword",
        "KeywordDetector",
        "<SECRET>",
        (),
        (
            r"api_?key|auth_?key|service_?key|account_?key|db_?key|database_?key"
            r"|priv_?key|private_?key|client_?key|db_?pass|database_?pass|key_?pass"
            r"|password|passwd|pwd|secret|contraseña|contrasena",
        ),
    ),
    DetectorSpec("mailchimp_access_key", "mailchimp", "MailchimpDetector", "<MAILCHIMP_ACCESS_KEY>", (r"-us[0-9]",)),
    DetectorSpec("npm_token", "npm", "NpmDetector", "<NPM_TOKEN>", (r"/:_authToken=",)),
    DetectorSpec("openai_token", "openai", "OpenAIDetector", "<OPENAI_TOKEN>", (r"T3BlbkFJ",)),
    # Ours (codesieve.core.extra_detectors): formats detect-secrets 1.5.0 misses.
    DetectorSpec(
        "openai_project_key",
        _EXTRA,
        "OpenAIProjectKeyDetector",
        "<OPENAI_TOKEN>",
        (r"sk-(?:proj|svcacct|admin)-",),
    ),
    DetectorSpec("url_password", _EXTRA, "UrlPasswordDetector", "<BASIC_AUTH_PASSWORD>", (r"://",)),
    DetectorSpec(
        "private_key", "private_key", "PrivateKeyDetector", "<PRIVATE_KEY>", (r"PRIVATE KEY|PuTTY-User-Key-File-2",)
    ),
    DetectorSpec("pypi_token", "pypi_token", "PypiTokenDetector", "<PYPI_TOKEN>", (r"pypi-AgE",)),
    DetectorSpec("sendgrid_api_key", "sendgrid", "SendGridDetector", "<SENDGRID_API_KEY>", (r"SG\.",)),
    DetectorSpec(
        "slack_token",
        "slack",
        "SlackDetector",
        "<SLACK_TOKEN>",
        (),
        (r"xox[abposr]-|https://hooks\.slack\.com/services/t",),
    ),
    DetectorSpec(
        "softlayer_credentials",
        "softlayer",
        "SoftlayerDetector",
        "<SOFTLAYER_CREDENTIALS>",
        (_LONG_RUN,),
        (r"api.softlayer.com",),
    ),
    DetectorSpec("square_oauth_secret", "square_oauth", "SquareOAuthDetector", "<SQUARE_OAUTH_SECRET>", (r"sq0csp-",)),
    # Two literals, each looked up with `in`: several times faster than one `[rs]k_live_` regex pass.
    DetectorSpec("stripe_access_key", "stripe", "StripeDetector", "<STRIPE_ACCESS_KEY>", (r"sk_live_", r"rk_live_")),
    # TelegramBotTokenDetector: \d{8,10}: -- search the ':' then look back for 8 digits
    DetectorSpec(
        "telegram_bot_token", "telegram_token", "TelegramBotTokenDetector", "<TELEGRAM_BOT_TOKEN>", (r":(?<=\d{8}:)",)
    ),
    DetectorSpec("twilio_api_key", "twilio", "TwilioKeyDetector", "<TWILIO_API_KEY>", (r"(?:AC|SK)[a-z0-9]{32}",)),
    # High-entropy strings: Shannon entropy <= log2(len), so beating the 4.5-bit limit needs
    # >= 23 chars (2**4.5 = 22.6) and the 3.0-bit hex limit needs >= 9 chars, inside quotes.
    DetectorSpec(
        "base64_high_entropy_string",
        "high_entropy_strings",
        "Base64HighEntropyString",
        "<HIGH_ENTROPY_STRING>",
        (r"['\"][A-Za-z0-9+/\\\-_=]{23}",),
    ),
    DetectorSpec(
        "hex_high_entropy_string",
        "high_entropy_strings",
        "HexHighEntropyString",
        "<HIGH_ENTROPY_STRING>",
        (r"['\"][0-9a-fA-F]{9}",),
    ),
    # Ours (codesieve.core.provider_detectors): provider token formats detect-secrets lacks.
    *(
        DetectorSpec(
            r.detector,
            _PROVIDERS,
            rule_plugin_class(r),
            r.redaction,
            r.prefilter if isinstance(r.prefilter, tuple) else (r.prefilter,),
        )
        for r in PROVIDER_RULES
    ),
)

ALL_DETECTORS: frozenset[str] = frozenset(spec.detector for spec in DETECTOR_SPECS)
# Detectors of ours, not detect-secrets' (left out when `parity=True`).
OWN_DETECTORS: frozenset[str] = frozenset(
    spec.detector for spec in DETECTOR_SPECS if spec.plugin_module in (_EXTRA, _PROVIDERS)
)
# Off by default: entropy detectors flag hashes, UUID-less ids and base64 test data (the bulk of
# detect-secrets' false positives in code), and public IPs (8.8.8.8) are not credentials.
# Every credential-shaped detector and the keyword detector are on.
DEFAULT_DETECTORS: frozenset[str] = ALL_DETECTORS - {
    "base64_high_entropy_string",
    "hex_high_entropy_string",
    "public_ip",
}

_SPEC_BY_ID = {spec.detector: spec for spec in DETECTOR_SPECS}
# Detectors that guess from context (a keyword, entropy) rather than a credential's own format.
_GUESSING_DETECTORS = frozenset({"secret_keyword", "base64_high_entropy_string", "hex_high_entropy_string"})
_PROVIDER_DETECTORS = frozenset(r.detector for r in PROVIDER_RULES)


def _specificity(detector: str) -> int:
    """Sort rank on equal spans (redaction uses the first placeholder): a provider's own format,
    then detect-secrets' formats (some generic, like IBM's 44 characters after a keyword), then guesses."""
    return 0 if detector in _PROVIDER_DETECTORS else 2 if detector in _GUESSING_DETECTORS else 1


# Detections that cover only part of a credential are widened for the reported span (the value
# compared with detect-secrets is unchanged): GitHub/GitLab plugin regexes capture only the
# prefix group (`ghp`, `glpat`), a JWT's signature is matched lazily, and a private key's body
# lines (base64, optionally quoted per line) follow its BEGIN line up to the END line.
_TOKEN_TAIL = re.compile(r"[A-Za-z0-9_\-]*")
_SPAN_EXTEND = {
    "github_token": _TOKEN_TAIL,
    "gitlab_token": _TOKEN_TAIL,
    "jwt": re.compile(r"[A-Za-z0-9\-_.+/=]*"),
    "private_key": re.compile(
        r"[^\n]*(?:\n[ \t\"'`]*(?:[A-Za-z0-9+/=]{16,}|(?:Proc-Type|DEK-Info|Comment):[^\n]*)"
        r"[ \t\"'`,\\n]*)*(?:\n[^\n]*END[^\n]*PRIVATE KEY[^\n]*?-*)?"
    ),
}
# Characters some plugin regexes include around the secret itself (Artifactory's `(?:\s|=|:|"|^)`
# delimiters); they are trimmed from the reported span, never from the comparison value.
_SPAN_TRIM = ' \t=:"'


@dataclass(frozen=True, slots=True)
class SecretFinding:
    """A detected secret: detector id, typed placeholder and character span [start, end).

    It never holds the secret itself, so it is safe to log, store and return.
    """

    detector: str
    placeholder: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class _Detector:
    spec: DetectorSpec
    secret_type: str
    analyze: Callable[[str], Iterable[str]]
    plugin: Any


# Plugin variants: "parity" = detect-secrets' own plugins; "strict" = our stricter replacements
# (`DetectorSpec.own_plugin`) and checksums verified; "prefix" = for the synthetic continuations of
# scan_cut_off_tail: detect-secrets' plugins, provider formats matched as prefixes, no checksums.


@cache
def _build_detector(detector_id: str, mode: str = "strict") -> _Detector:
    import importlib

    spec = _SPEC_BY_ID[detector_id]
    module_path, class_name = spec.plugin_module, spec.plugin_class
    if spec.own_plugin and mode == "strict":
        module_path, class_name = _PROVIDERS, spec.own_plugin
    path = module_path if "." in module_path else f"detect_secrets.plugins.{module_path}"
    module = importlib.import_module(path)
    plugin = getattr(module, class_name)()
    if module_path == _PROVIDERS and mode == "prefix":
        # A cut-off token continued by a filler matches no fixed shape (lengths, separators, a
        # closing `AA`): its prefix and whatever token characters follow it are matched instead.
        plugin.check_checksums = False
        if hasattr(plugin, "rule"):
            starts = plugin.rule.prefilter if isinstance(plugin.rule.prefilter, tuple) else (plugin.rule.prefilter,)
            # Up to 40 token characters may precede the prefilter (`...Q~`, `<14>.atlasv1.`, a URL).
            plugin.denylist = [
                re.compile(_TOKEN_START + r"[A-Za-z0-9_.~+/=@:-]{0,40}?" + f"(?:{p})" + _CUT_OFF_TOKEN_TAIL)
                for p in starts
            ]
    analyze: Callable[[str], Iterable[str]]
    if spec.plugin_class == "KeywordDetector":

        def analyze(line: str) -> Iterable[str]:
            values: Iterable[str] = plugin.analyze_string(
                line, denylist_regex_to_group=QUOTES_REQUIRED_DENYLIST_REGEX_TO_GROUP
            )
            return values
    elif spec.plugin_module == "high_entropy_strings":

        def analyze(line: str) -> Iterable[str]:
            return [
                value
                for value in plugin.analyze_string(line)
                if plugin.calculate_shannon_entropy(value) > plugin.entropy_limit
            ]
    else:
        analyze = plugin.analyze_string
    return _Detector(spec, plugin.secret_type, analyze, plugin)


@cache
def _build_scanner(
    detectors: frozenset[str], mode: str = "strict"
) -> tuple[tuple[_Detector, ...], tuple[tuple[str, bool, tuple[int, ...]], ...]]:
    """Enabled detectors in a fixed order, and each distinct prefilter with the detectors it gates."""
    unknown = detectors - ALL_DETECTORS
    if unknown:
        raise ValueError(f"unknown secret detectors: {sorted(unknown)}")
    # DETECTOR_SPECS order, so results never depend on set iteration order.
    enabled = tuple(_build_detector(s.detector, mode) for s in DETECTOR_SPECS if s.detector in detectors)
    gates: dict[tuple[str, bool], list[int]] = {}
    for i, det in enumerate(enabled):
        for pattern in det.spec.prefilter:
            gates.setdefault((pattern, False), []).append(i)
        for pattern in det.spec.prefilter_lower:
            gates.setdefault((pattern, True), []).append(i)
    return enabled, tuple((p, low, tuple(ids)) for (p, low), ids in gates.items())


@cache
def _compile(pattern: str, flags: int) -> re.Pattern[str]:
    return re.compile(pattern, flags)


# Non-ASCII characters that Python's re.IGNORECASE matches to ASCII letters (its extra case-fold
# table), mapped first so that plain lower-casing finds every match the plugins' IGNORECASE finds.
_IGNORECASE_FOLDS = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


_FOLDED_CHARS = "\u0130\u0131\u017f\u212a"


def _lower_same_offsets(text: str) -> str:
    # str.translate with a table is slow on non-ASCII text (~0.3 s of 4.3 s CPU scanning 2,000 files,
    # benchmarks/secrets_cli.py): only texts holding one of the four characters need it.
    if text.isascii() or not any(c in text for c in _FOLDED_CHARS):
        return text.lower()
    return text.translate(_IGNORECASE_FOLDS).lower()


def _line_starts(text: str) -> list[int]:
    starts = [0]
    find = text.find
    pos = find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = find("\n", pos + 1)
    return starts


_PLAIN = re.compile(r"(?:[A-Za-z0-9_~:/=-]|\\[.\-/~=:])+")


@cache
def _literal(pattern: str) -> str | None:
    """The text a prefilter regex matches when it is a plain literal (`dp\\.pt\\.` -> `dp.pt.`), else None."""
    if not _PLAIN.fullmatch(pattern):
        return None
    return re.sub(r"\\(.)", r"\1", pattern)


def _candidate_lines(text: str, line_starts: list[int], detectors: frozenset[str]) -> dict[int, set[int]]:
    """Line index -> indices (into the enabled detectors) whose prefilter hits that line."""
    _, gates = _build_scanner(detectors)
    lowered: str | None = None
    hits: dict[int, set[int]] = {}
    for pattern, on_lower, det_ids in gates:
        if on_lower:
            if lowered is None:
                lowered = _lower_same_offsets(text)
            # Fallback when lower-casing moved offsets: the original text, case-insensitively.
            fast = len(lowered) == len(text)
            regex = _compile(pattern, 0 if fast else re.IGNORECASE)
            subject = lowered if fast else text
        else:
            needle = _literal(pattern)
            # A plain-literal prefilter (`sk-ant-`, `dp.pt.`: most provider prefixes) is first
            # looked up with `in`, several times faster than a regex pass over a text without it.
            if needle is not None and needle not in text:
                continue
            regex, subject = _compile(pattern, 0), text
        line_end = -1
        index = -1
        for match in regex.finditer(subject):
            start = match.start()
            if start >= line_end:
                index = bisect.bisect_right(line_starts, start) - 1
                line_end = line_starts[index + 1] if index + 1 < len(line_starts) else len(text) + 1
                hits.setdefault(index, set()).update(det_ids)
    return hits


def _is_filtered_out(value: str, line: str, plugin: Any) -> bool:
    # detect-secrets' default secret-stage filters, same order as its Settings defaults.
    return (
        heuristic.is_sequential_string(value)
        or heuristic.is_potential_uuid(value)
        or heuristic.is_likely_id_string(value, line, plugin)
        or heuristic.is_templated_secret(value)
        or heuristic.is_prefixed_with_dollar_sign(value)
        or heuristic.is_not_alphanumeric_string(value)
    )


# Bounded cost on hostile lines (issue 13: `"eyJ" * 40000` took 10 s, `"api_key" * 2000` 23 s):
# detect-secrets' regexes are tried from every candidate start and each failed try can scan to the
# end of the line, so one long line costs up to quadratic (or worse) time in one C call, holding the
# GIL. Lines longer than _WINDOW_CHARS are analysed as overlapping windows of that size (findings
# merged by position), so every regex call sees at most _WINDOW_CHARS characters and the total is
# linear in the line length. A secret longer than _WINDOW_OVERLAP straddling a window edge is seen
# cut (its start is still redacted); lines that long are minified or generated text, not code
# (detect-secrets itself skips its indirect-reference regex beyond 1000 characters for this reason).
_WINDOW_CHARS = 2048
_WINDOW_OVERLAP = 1024
# The keyword regexes also scan from every quote to the end of the line (a backtick-quoted value
# may hold backticks, and `[^\s]{0,50}?` retries each quote 50 times): 4096 hostile characters
# cost ~600 ms in one call, 512 ~10 ms. Keyword values up to 256 characters stay whole.
_KEYWORD_WINDOW_CHARS = 512
_KEYWORD_WINDOW_OVERLAP = 256
# Their cost grows with quotes x window length: a window denser in quotes than any code line
# (`"pwd`" * 128`) is analysed again in 128-character parts, which bounds a call to ~2 ms.
_KEYWORD_DENSE_QUOTES = 24
_KEYWORD_DENSE_WINDOW_CHARS = 128
_KEYWORD_DENSE_WINDOW_OVERLAP = 64

# The keyword regexes start at a denylisted word followed by `\w*`: in a word run holding k such
# words, each start fails only after scanning the rest of the run (k x run length per regex).
# Every start inside one run reaches the same continuation after the run, so only the run's first
# keyword can produce a match; the later ones are defanged (their first letter replaced by a word
# character no keyword contains) in the copy the regexes see. Same length, same offsets: values are
# read back from the original line at the matched position.
_KEYWORD_WORDS = re.compile(
    r"api_?key|auth_?key|service_?key|account_?key|db_?key|database_?key|priv_?key|private_?key"
    r"|client_?key|db_?pass|database_?pass|key_?pass|password|passwd|pwd|secret|contraseña|contrasena",
    re.IGNORECASE,
)
_WORD_RUN = re.compile(r"\w+")


def _defang_repeated_keywords(line: str) -> str:
    chars: list[str] | None = None
    for run in _WORD_RUN.finditer(line):
        first_end = -1
        for kw in _KEYWORD_WORDS.finditer(line, run.start(), run.end()):
            if first_end == -1:
                first_end = kw.end()
            elif kw.start() >= first_end:
                if chars is None:
                    chars = list(line)
                chars[kw.start()] = "Z"
    return line if chars is None else "".join(chars)


def _windows(line: str, size: int, overlap: int) -> list[str]:
    if len(line) <= size:
        return [line]
    return [line[i : i + size] for i in range(0, len(line) - overlap, size - overlap)]


def _analyze(det: _Detector, line: str) -> list[str]:
    """The plugin's values for one line (windowed when long; see _WINDOW_CHARS)."""
    values: dict[str, None] = {}
    keyword = det.spec.detector == "secret_keyword"
    size, overlap = (_KEYWORD_WINDOW_CHARS, _KEYWORD_WINDOW_OVERLAP) if keyword else (_WINDOW_CHARS, _WINDOW_OVERLAP)
    for window in _windows(line, size, overlap):
        if not keyword:
            values.update(dict.fromkeys(det.analyze(window)))
            continue
        dense = len(line) > size and sum(map(window.count, "'\"`")) > _KEYWORD_DENSE_QUOTES
        parts = _windows(window, _KEYWORD_DENSE_WINDOW_CHARS, _KEYWORD_DENSE_WINDOW_OVERLAP) if dense else [window]
        for part in parts:
            safe = _defang_repeated_keywords(part)
            for value in det.analyze(safe):
                pos = safe.find(value) if safe is not part else -1
                values.setdefault(part[pos : pos + len(value)] if pos != -1 else value)
    return list(values)


def _is_look_alike(detector: str, value: str, line: str, checksums: bool = True) -> bool:
    """Outside parity mode (issue 19): a credential's shape filled with one character (`sk_live_xxxx`),
    a checksummed format with a wrong checksum (even when a keyword rule guessed it), and keyword
    values that are templates or placeholder words (`password = "changeme"`, `"${SECRET}"`)."""
    if detector == "gitlab_token":  # the plugin reports only the prefix (`glpat`): judge the token
        at = line.find(value)
        match = _TOKEN_TAIL.match(line, at + len(value)) if at != -1 else None
        value = value + match.group(0) if match else value
    if has_filler_run(value) or (checksums and fails_its_checksum(value)):
        return True
    return detector == "secret_keyword" and names_a_placeholder(value)


def scan_secret_values(
    text: str, *, detectors: frozenset[str] = DEFAULT_DETECTORS, parity: bool = False, checksums: bool = True
) -> list[tuple[int, str, str, int]]:
    """The raw per-line detections: (line index, detector id, SECRET VALUE, line start offset).

    This returns secret values: it exists for `scan_secrets` and for the parity benchmark against
    detect-secrets. Never log or return its output.

    Args:
        text: any text; lines are split on "\\n" and right-stripped, as detect-secrets does.
        detectors: ids from `ALL_DETECTORS`.
        parity: True = exactly detect-secrets' plugins and filters (our own detectors are left out);
            False (default) = the same, except that the indirect-reference line filter only
            drops keyword/entropy detections, and our stricter plugins replace GitHub's and JWT's.
        checksums: False only for scan_cut_off_tail's synthetic continuations: token formats
            match as prefixes and checksums are not verified (detect-secrets' plugins stand in).
    Returns:
        one tuple per (line, detector, distinct value), like detect-secrets' per-line sets.
    """
    if parity:  # detect-secrets has no such plugins
        detectors = detectors - OWN_DETECTORS
    enabled, _ = _build_scanner(detectors, "parity" if parity else "strict" if checksums else "prefix")
    line_starts = _line_starts(text)
    out: list[tuple[int, str, str, int]] = []
    for index, det_ids in sorted(_candidate_lines(text, line_starts, detectors).items()):
        start = line_starts[index]
        end = line_starts[index + 1] - 1 if index + 1 < len(line_starts) else len(text)
        line = text[start:end].rstrip()
        found = [
            (det, value) for det_id in sorted(det_ids) for det in (enabled[det_id],) for value in _analyze(det, line)
        ]
        if not found:
            continue
        # detect-secrets applies this line filter before the plugins; every step is pure, so
        # running its costly regex only on lines with a detection gives the same result.
        if heuristic.is_indirect_reference(line):
            if parity:
                continue
            # It targets `password = get_secret()`; a credential-shaped token on such a line
            # (`OpenAI(api_key="sk-...")`) is still a leak, so only guessing detectors drop it.
            found = [(d, v) for d, v in found if d.spec.detector not in _GUESSING_DETECTORS]
        out.extend(
            (index, det.spec.detector, value, start)
            for det, value in found
            if not _is_filtered_out(value, line, det.plugin)
            and (parity or not _is_look_alike(det.spec.detector, value, line, checksums))
        )
    return out


def _config_findings(text: str, syntax: str, found: set[SecretFinding]) -> list[SecretFinding]:
    """Unquoted config values (config_secrets), except where a detector already reported an
    overlapping span (`NPM_TOKEN=npm_...` is one npm token, not also a keyword guess; the 8
    findings starting before the value are checked) or a look-alike fails its format's checksum."""
    placeholder = _SPEC_BY_ID["secret_keyword"].placeholder
    taken = sorted((f.start, f.end) for f in found)
    out = []
    for start, end in config_secret_spans(text, syntax):
        i = bisect.bisect_left(taken, (end, end))
        overlaps = any(s < end and e > start for s, e in taken[max(i - 8, 0) : i])
        if not overlaps and not fails_its_checksum(text[start:end]):
            out.append(SecretFinding("secret_keyword", placeholder, start, end))
    return out


def scan_secrets(
    text: str,
    *,
    detectors: frozenset[str] = DEFAULT_DETECTORS,
    parity: bool = False,
    checksums: bool = True,
    syntax: str | None = None,
) -> list[SecretFinding]:
    """Find secrets in `text` with detect-secrets' detectors and false-positive heuristics.

    Args:
        text: a completion, a prompt, or a whole file.
        detectors: detector ids to run (default `DEFAULT_DETECTORS`).
        parity: apply detect-secrets' filters exactly (see `scan_secret_values`).
        checksums: see `scan_secret_values` (False only for synthetic continuations).
        syntax: the text's configuration syntax (`config_secrets.config_syntax` of its file name or
            language): values assigned without quotes are then found too, as `secret_keyword`.
    Returns:
        findings sorted by span (format-specific detectors first on ties); each occurrence of a detected value on its
        line gets its own span, so redaction removes every copy.
    """
    findings: set[SecretFinding] = set()
    for _index, detector, value, line_start in scan_secret_values(
        text, detectors=detectors, parity=parity, checksums=checksums
    ):
        line_end = text.find("\n", line_start)
        line = text[line_start : len(text) if line_end == -1 else line_end]
        core = value.strip(_SPAN_TRIM) or value
        offset = value.find(core)
        placeholder = _SPEC_BY_ID[detector].placeholder
        pos = line.find(value)
        extend = _SPAN_EXTEND.get(detector)
        extended: tuple[int, int] = (-1, -1)  # last (from, to) of an extension
        while pos != -1:
            start = line_start + pos + offset
            end = start + len(core)
            if extend is not None:
                # An extension run from inside the previous one ends where it ended (each pattern
                # is one character class, or the rest of the line and the key block below it):
                # without this, k copies of a token in one run cost k x run length.
                if extended[0] <= end <= extended[1]:
                    end = extended[1]
                else:
                    match = extend.match(text, end)
                    extended = (end, match.end() if match else end)
                    end = extended[1]
            findings.add(SecretFinding(detector, placeholder, start, end))
            pos = line.find(value, pos + 1)
    if syntax is not None and "secret_keyword" in detectors and not parity:
        findings.update(_config_findings(text, syntax, findings))
    # Format-specific detectors before keyword/entropy guesses on the same span (redaction uses
    # the first placeholder); provider formats before detect-secrets' generic ones.
    return sorted(findings, key=lambda f: (f.start, f.end, _specificity(f.detector), f.detector))


# A completion cut off by max_tokens can end inside a secret: its prefix no longer matches the
# fixed-length patterns (an AWS secret key cut at 34 of its 40 characters came back unredacted in
# tests/integration/gateway/filters/test_regurgitation_e2e.py before this existed). The unfinished last line
# is scanned again as if it went on: closed as a quoted value (what keyword detectors need), or with
# the token continued by a filler for each alphabet (mixed-case base64-like, upper-case like AWS key
# ids, lower-case hex; no runs or sequences, which the false-positive heuristics reject) for the
# prefix patterns (AKIA..., ghp_..., xoxb-...). Five scans of one line, only for cut-off completions.
_CUT_OFF_TAIL_CHARS = 1024
_CUT_OFF_CONTINUATIONS = (
    '"',
    "'",
    "Xq7Kz2Wm9Rv4Tb8Ny3Hp6Jc1Ld5Fs0GwQe4Ua7Io2",
    "Q7X9Z2L4V8N3R6Y1H5J0K3W8T2P6M4B9C1D7F5G3",
    "3f9a1c7e5b2d80647e1a9c3f5d2b8e0a6c4f1d7b",
)


def scan_cut_off_tail(text: str, *, detectors: frozenset[str] = DEFAULT_DETECTORS) -> list[SecretFinding]:
    """Secrets that would run on past the end of a completion that was cut off mid-line.

    Args:
        text: a completion whose generation stopped at max_tokens (finish_reason "length").
        detectors: detector ids to run.
    Returns:
        per detector, the earliest match that starts inside the last line and reaches its end once
        continued, with the span clipped to [match start, len(text)): redacting it removes the prefix.
    """
    # Only the end of the line can hold a secret that runs past it: five scans of a whole 64K line
    # would cost five times the scan itself.
    line_start = max(text.rfind("\n") + 1, len(text) - _CUT_OFF_TAIL_CHARS)
    tail = text[line_start:]
    if not tail.strip():
        return []
    found: dict[str, SecretFinding] = {}
    for continuation in _CUT_OFF_CONTINUATIONS:
        for f in scan_secrets(tail + continuation, detectors=detectors, checksums=False):
            if f.start < len(tail) <= f.end:
                start = line_start + f.start
                if f.detector not in found or start < found[f.detector].start:
                    found[f.detector] = SecretFinding(f.detector, f.placeholder, start, len(text))
    return sorted(found.values(), key=lambda f: (f.start, _specificity(f.detector), f.detector))
