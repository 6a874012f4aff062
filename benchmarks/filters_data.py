"""Labelled data for the filter benchmarks, built from local code that is not in this repository.

- `source_files()`: Python/C/JS sources of the installed packages (.venv site-packages) and of
  the system Python, grouped by package, deduplicated by content; with `roots=
  all_local_source_roots(dir)` also every other source tree on the machine (Go, JDK, C/C++
  headers, Node, the Cloud SDK; Rust's library sources where installed), for the >= 1 GB index
  of benchmarks/filters.py.
- `make_secret(detector, rng)`: a random, well-formed credential for each detect-secrets detector,
  and `secret_line(...)`: a realistic assignment line that carries it.
- `make_non_secret(kind, rng)`: high-entropy values that are not secrets (hashes, UUIDs, base64
  test data, ...), in realistic lines.

Run `python benchmarks/filters_data.py --write-fixtures` to regenerate tests/fixtures/secrets/.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import json
import keyword
import random
import re
import string
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SITE_PACKAGES = next((ROOT / ".venv" / "lib").glob("python3*/site-packages"), None)
SOURCE_EXTS = (
    ".py",
    ".c",
    ".h",
    ".cc",
    ".cpp",
    ".hpp",
    ".cu",
    ".cuh",
    ".js",
    ".ts",
    ".go",
    ".rs",
    ".java",
    ".pyx",
    ".pxd",
)

ALNUM = string.ascii_letters + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits
HEX = "0123456789abcdef"
UPPER_DIGITS = string.ascii_uppercase + string.digits
URLSAFE = ALNUM + "-_"


def _r(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _b64url_json(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


def _jwt(rng: random.Random) -> str:
    header = _b64url_json({"alg": "HS256", "typ": "JWT"})
    payload = _b64url_json(
        {
            "sub": str(rng.randrange(10**9)),
            "name": _r(rng, string.ascii_letters, 8),
            "iat": rng.randrange(1_600_000_000, 1_700_000_000),
        }
    )
    return f"{header}.{payload}.{_r(rng, URLSAFE, 43)}"


def _crc32_token(rng: random.Random, prefix: str) -> str:
    from codesieve.core.provider_detectors import base62_crc32

    body = _r(rng, ALNUM, 30)
    return prefix + body + base62_crc32(body)


def _github_token(rng: random.Random) -> str:
    return _crc32_token(rng, rng.choice(["ghp_", "gho_", "ghs_"]))


# detector id -> (secret generator, line template); {s} is the secret, {v} a variable-name stem.
# No "public_ip": detect-secrets' own is_not_alphanumeric_string heuristic drops every IPv4
# address (no letters), so that detector never reports with the default filters.
SECRET_MAKERS: dict[str, tuple[Callable[[random.Random], str], str]] = {
    "artifactory_credentials": (lambda r: "AKC" + _r(r, ALNUM, 60), 'artifactory_api_token = "{s}"'),
    "aws_access_key": (lambda r: r.choice(["AKIA", "ASIA"]) + _r(r, UPPER_DIGITS, 16), 'aws_access_key_id = "{s}"'),
    "azure_storage_key": (
        lambda r: "AccountKey=" + base64.b64encode(r.randbytes(64)).decode(),
        'conn_str = "DefaultEndpointsProtocol=https;AccountName={v};{s};EndpointSuffix=core.windows.net"',
    ),
    "basic_auth": (lambda r: _r(r, ALNUM, 16), 'DATABASE_URL = "postgres://{v}:{s}@db.internal.example.com:5432/app"'),
    "cloudant_credentials": (lambda r: _r(r, HEX, 64), "cloudant_password = '{s}'"),
    "discord_bot_token": (
        lambda r: r.choice("MNO") + _r(r, ALNUM, 23) + "." + _r(r, ALNUM, 6) + "." + _r(r, ALNUM, 27),
        'DISCORD_TOKEN = "{s}"',
    ),
    # GitHub tokens carry a CRC32 of their 30 random characters (checked outside parity mode).
    "github_token": (_github_token, 'gh_token = "{s}"'),
    "gitlab_token": (lambda r: "glpat-" + _r(r, URLSAFE, 20), 'GITLAB_TOKEN = "{s}"'),
    "ibm_cloud_iam_key": (lambda r: _r(r, ALNUM, 44), 'ibm_cloud_iam_api_key = "{s}"'),
    "ibm_cos_hmac": (lambda r: _r(r, HEX, 48), 'cos_hmac_secret_access_key = "{s}"'),
    "jwt": (_jwt, 'headers = {{"Authorization": "Bearer {s}"}}'),
    "secret_keyword": (lambda r: _r(r, ALNUM, 2) + _r(r, ALNUM + "!#%&*", 12), 'db_password = "{s}"'),
    "mailchimp_access_key": (lambda r: _r(r, LOWER_ALNUM, 32) + f"-us{r.randrange(1, 20)}", 'MAILCHIMP_KEY = "{s}"'),
    "npm_token": (lambda r: _crc32_token(r, "npm_"), "//registry.npmjs.org/:_authToken={s}"),
    "openai_token": (
        lambda r: "sk-proj-" + _r(r, ALNUM, 20) + "T3BlbkFJ" + _r(r, ALNUM, 20),
        'client = OpenAI(api_key="{s}")',
    ),
    "private_key": (
        lambda r: "-----BEGIN " + r.choice(["RSA ", "EC ", "OPENSSH ", ""]) + "PRIVATE KEY-----",
        'KEY_PEM = """{s}',
    ),
    "pypi_token": (lambda r: "pypi-AgEIcHlwaS5vcmc" + _r(r, URLSAFE, 80), 'password = "{s}"'),
    "sendgrid_api_key": (lambda r: "SG." + _r(r, URLSAFE, 22) + "." + _r(r, URLSAFE, 43), 'SENDGRID = "{s}"'),
    "slack_token": (
        lambda r: f"xoxb-{r.randrange(10**11, 10**12)}-{r.randrange(10**12, 10**13)}-" + _r(r, LOWER_ALNUM, 24),
        'SLACK_BOT = "{s}"',
    ),
    "softlayer_credentials": (lambda r: _r(r, LOWER_ALNUM, 64), 'softlayer_api_key = "{s}"'),
    "square_oauth_secret": (lambda r: "sq0csp-" + _r(r, URLSAFE, 43), 'SQUARE = "{s}"'),
    "stripe_access_key": (lambda r: r.choice(["sk", "rk"]) + "_live_" + _r(r, ALNUM, 24), 'stripe.api_key = "{s}"'),
    "telegram_bot_token": (lambda r: f"{r.randrange(10**8, 10**10)}:" + _r(r, URLSAFE, 35), 'BOT = "{s}"'),
    "twilio_api_key": (lambda r: r.choice(["AC", "SK"]) + _r(r, LOWER_ALNUM, 32), 'TWILIO_SID = "{s}"'),
    "base64_high_entropy_string": (lambda r: base64.b64encode(r.randbytes(48)).decode(), 'SIGNING = "{s}"'),
    "hex_high_entropy_string": (lambda r: _r(r, HEX, 40), "WEBHOOK_SALT = '{s}'"),
}

# Non-secret high-entropy values a code model emits all the time.
NON_SECRET_MAKERS: dict[str, tuple[Callable[[random.Random], str], str]] = {
    "sha256": (lambda r: hashlib.sha256(r.randbytes(16)).hexdigest(), 'EXPECTED_SHA256 = "{s}"'),
    "sha1": (lambda r: hashlib.sha1(r.randbytes(16)).hexdigest(), 'commit = "{s}"'),
    "md5": (lambda r: hashlib.md5(r.randbytes(16)).hexdigest(), "etag = '{s}'"),
    "uuid": (lambda r: str(uuid.UUID(int=r.getrandbits(128))), 'request_id = "{s}"'),
    "uuid_password": (lambda r: str(uuid.UUID(int=r.getrandbits(128))), 'password = "{s}"'),
    "base64_testdata": (lambda r: base64.b64encode(r.randbytes(r.randrange(24, 48))).decode(), 'expected_b64 = "{s}"'),
    "templated": (lambda r: "${" + _r(r, string.ascii_uppercase, 10) + "}", 'password = "{s}"'),
    "env_lookup": (lambda r: _r(r, string.ascii_uppercase, 10), 'api_key = os.environ["{s}"]'),
    "placeholder": (lambda r: "<" + _r(r, string.ascii_lowercase, 8) + ">", 'secret = "{s}"'),
}


def secret_line(detector: str, rng: random.Random) -> tuple[str, str]:
    """(line, secret) for `detector`."""
    make, template = SECRET_MAKERS[detector]
    secret = make(rng)
    return template.format(s=secret, v=_r(rng, string.ascii_lowercase, 6)), secret


def non_secret_line(kind: str, rng: random.Random) -> tuple[str, str]:
    make, template = NON_SECRET_MAKERS[kind]
    value = make(rng)
    return template.format(s=value), value


def _python_roots() -> list[Path]:
    stdlib = Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return [p for p in (SITE_PACKAGES, stdlib) if p and p.exists()]


# Source trees that ship with the system image, besides the Python ones (whichever exist).
_SYSTEM_SOURCE_GLOBS = (
    "/usr/lib/python3",
    "/usr/share/go-*/src",
    "/root/.rustup/toolchains/*/lib/rustlib/src",
    f"{sys.base_prefix}/lib/python3*/site-packages",
    "/usr/lib/google-cloud-sdk",
    "/usr/include",
    "/usr/local/cuda/include",
    "/usr/lib/node_modules",
    "/usr/share",
)


def _jdk_sources(extract_dir: Path) -> list[Path]:
    """The JDKs' src.zip, extracted once under `extract_dir` (the .java files only)."""
    import zipfile

    out = []
    for archive in sorted(Path("/usr/lib/jvm").glob("*/lib/src.zip")):
        target = extract_dir / f"jdk-{archive.parent.parent.name}"
        if not (target / ".done").exists():
            with zipfile.ZipFile(archive) as zf:
                zf.extractall(target, [n for n in zf.namelist() if n.endswith(".java")])
            (target / ".done").touch()
        out.append(target)
    return out


def all_local_source_roots(extract_dir: Path) -> list[Path]:
    """The Python roots, then every system source tree and the extracted JDK sources."""
    import glob

    system = [Path(p) for pattern in _SYSTEM_SOURCE_GLOBS for p in sorted(glob.glob(pattern))]
    return _python_roots() + [p for p in system if p.is_dir()] + _jdk_sources(extract_dir)


def source_files(
    *, max_bytes: int | None = None, exts: tuple[str, ...] = SOURCE_EXTS, roots: list[Path] | None = None
) -> Iterator[tuple[str, Path]]:
    """(package, path) of local source files outside this repository, content-deduplicated.

    Walks `roots` (default: .venv site-packages then the system Python's stdlib) in sorted
    order (deterministic); the package is the first directory under its root.
    """
    roots = _python_roots() if roots is None else roots
    seen: set[bytes] = set()
    total = 0
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix not in exts or not path.is_file() or "site-packages" in path.parts[len(root.parts) :]:
                continue
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if not 200 <= len(data) <= 2_000_000:
                continue
            digest = hashlib.blake2b(data, digest_size=16).digest()
            if digest in seen:
                continue
            seen.add(digest)
            rel = path.relative_to(root)
            package = rel.parts[0] if len(rel.parts) > 1 else rel.stem
            yield package, path
            total += len(data)
            if max_bytes is not None and total >= max_bytes:
                return


def package_key(package: str, path: Path) -> str:
    """The group a file belongs to for the indexed / held-out split.

    Vendored copies (`pip/_vendor/rich/...`) belong to the vendored project (`rich`), so the
    held-out side never contains a copy of an indexed project under another name.
    """
    parts = path.parts
    for marker in ("_vendor", "vendor", "vendored", "_vendored", "extern", "_extern", "third_party"):
        if marker in parts:
            i = parts.index(marker)
            if i + 1 < len(parts):
                return Path(parts[i + 1]).stem.lower()
    return package.lower().removesuffix(".py")


def is_held_out(key: str, held_out_percent: int = 10) -> bool:
    """Deterministic split by package key (a stable hash, not Python's salted hash())."""
    return int(hashlib.sha1(key.encode()).hexdigest(), 16) % 100 < held_out_percent


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def sample_completion(
    text: str,
    rng: random.Random,
    *,
    min_chars: int = 150,
    max_lines: int = 40,
    exact_lines: int | None = None,
) -> tuple[str, str] | None:
    """(context_before, completion): a random run of whole lines (>= min_chars, <= max_lines)
    and the whole file before it. None when the file is too short."""
    lines = text.splitlines(keepends=True)
    if len(lines) < 8:
        return None
    for _ in range(20):
        n = exact_lines or rng.randint(3, max_lines)
        if len(lines) <= n + 1:
            continue
        start = rng.randrange(1, len(lines) - n)
        completion = "".join(lines[start : start + n])
        if len(completion) >= min_chars and completion.strip():
            return "".join(lines[:start]), completion
    return None


# String literals and comments are matched first and kept: a refactoring tool renames
# identifiers, not the words inside strings or docstrings.
_NAME_RE = re.compile(
    r"(?P<keep>\"\"\"[\s\S]*?\"\"\"|'\'\'[\s\S]*?'\'\'|\"(?:\\.|[^\"\\\n])*\"|'(?:\\.|[^'\\\n])*'|#[^\n]*)"
    r"|\b[A-Za-z_]\w*\b"
)
_KEEP = set(keyword.kwlist) | set(dir(builtins)) | {"self", "cls"}


def rename_identifiers(code: str, rng: random.Random) -> str:
    """Consistently rename every non-keyword, non-builtin identifier to a random new one."""
    names: dict[str, str] = {}

    def rename(m: re.Match[str]) -> str:
        word = m.group(0)
        if m.group("keep") is not None or word in _KEEP:
            return word
        if word not in names:
            names[word] = rng.choice(["tmp", "val", "item", "node", "res", "x"]) + str(len(names))
        return names[word]

    return _NAME_RE.sub(rename, code)


def reformat(code: str) -> str:
    """Formatter noise: tabs for 4-space indents, spaces around '=' and ',', blank lines."""
    out = []
    for line in code.split("\n"):
        stripped = line.lstrip(" ")
        indent = (len(line) - len(stripped)) // 4
        out.append("\t" * indent + stripped.replace(",", " , ").replace("=", " = "))
        if stripped.endswith(":"):
            out.append("")
    return "\n".join(out)


def write_fixtures() -> None:
    """Regenerate tests/fixtures/secrets/{positives,negatives}.jsonl (seeded, deterministic)."""
    rng = random.Random(20261122)
    out = ROOT / "tests" / "fixtures" / "secrets"
    out.mkdir(parents=True, exist_ok=True)
    with (out / "positives.jsonl").open("w") as fh:
        for detector in SECRET_MAKERS:
            for _ in range(2):
                line, secret = secret_line(detector, rng)
                if detector in ("github_token", "npm_token"):
                    # Stored with a wrong checksum so no scanner (push protection) flags the fixture;
                    # test_filters_secret_scan completes it at run time.
                    stored = secret[:-6] + ("1" if secret[-6] != "1" else "2") + secret[-5:]
                    line, secret = line.replace(secret, stored), stored
                text = f"import os\n\n\ndef connect():\n    {line}\n    return None\n"
                start = text.index(secret)
                fh.write(
                    json.dumps(
                        {"detector": detector, "text": text, "secret_start": start, "secret_end": start + len(secret)}
                    )
                    + "\n"
                )
    with (out / "negatives.jsonl").open("w") as fh:
        for kind in NON_SECRET_MAKERS:
            for _ in range(2):
                line, _value = non_secret_line(kind, rng)
                text = f"def settings():\n    {line}\n    return locals()\n"
                fh.write(json.dumps({"kind": kind, "text": text}) + "\n")


if __name__ == "__main__":
    if "--write-fixtures" in sys.argv:
        write_fixtures()
        print("wrote tests/fixtures/secrets/")
