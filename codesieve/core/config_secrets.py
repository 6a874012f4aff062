"""Secrets assigned without quotes in configuration files, read with each file type's own syntax.

The keyword rule of secret_scan (detect-secrets' quotes-required regexes) only sees quoted values,
so `password: Xk9...` in YAML, `DB_PASSWORD=...` in .env, `password = ...` in INI/TOML, `ENV
API_TOKEN=...` in a Dockerfile and a Kubernetes Secret's `data:` values were missed (issue 19).
Here a file's syntax (chosen from its name, or from the editor's language id) says where keys and
values are; a value is reported when its key names a credential (or it sits in a Kubernetes
Secret's data) and it is not a placeholder or a reference (`${VAR}`, `<your-password>`,
`changeme`, `${{ secrets.X }}`, a path, a number). Line by line, one anchored regex per line: linear.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator
from pathlib import PurePath

__all__ = ["CONFIG_SYNTAXES", "config_syntax", "config_secret_spans", "is_placeholder", "names_a_placeholder"]

CONFIG_SYNTAXES = ("yaml", "dotenv", "ini", "toml", "json", "shell", "dockerfile")

_BY_SUFFIX = {
    ".yaml": "yaml",
    ".yml": "yaml",
    ".env": "dotenv",
    ".ini": "ini",
    ".cfg": "ini",
    ".conf": "ini",
    ".cnf": "ini",
    ".properties": "ini",
    ".toml": "toml",
    ".json": "json",
    ".jsonc": "json",
    ".sh": "shell",
    ".bash": "shell",
    ".zsh": "shell",
    ".dockerfile": "dockerfile",
}
_BY_NAME = {"dockerfile": "dockerfile", "containerfile": "dockerfile", ".npmrc": "ini", ".pypirc": "ini"}
# Editor language ids (VS Code / Tabby) for the gateway, where a completion has no file name.
_BY_LANGUAGE = {
    "yaml": "yaml",
    "yml": "yaml",
    "dotenv": "dotenv",
    "env": "dotenv",
    "ini": "ini",
    "properties": "ini",
    "java-properties": "ini",
    "toml": "toml",
    "json": "json",
    "jsonc": "json",
    "shellscript": "shell",
    "shell": "shell",
    "bash": "shell",
    "sh": "shell",
    "zsh": "shell",
    "dockerfile": "dockerfile",
}


def config_syntax(filename: str | None = None, language: str | None = None) -> str | None:
    """The configuration syntax of a file (by name or extension) or of an editor language id.

    Args:
        filename: a path or file name (`.env.production`, `config/app.yml`, `Dockerfile.dev`).
        language: an editor language id, used when there is no file name (`yaml`, `dotenv`).
    Returns:
        one of CONFIG_SYNTAXES, or None for anything else (source code keeps the quoted rule).
    """
    if filename:
        name = PurePath(filename.replace("\\", "/")).name.lower()
        if name == ".env" or name.startswith(".env.") or name.endswith(".env"):
            return "dotenv"
        if name.startswith(("dockerfile", "containerfile")):
            return "dockerfile"
        found = _BY_NAME.get(name) or _BY_SUFFIX.get(PurePath(name).suffix)
        if found:
            return found
    return _BY_LANGUAGE.get((language or "").lower())


# A key names a credential when one of its words is one of these (keys are split on
# non-alphanumerics and camelCase: `DB_PASSWORD`, `clientSecret`, `api-key`).
_SECRET_WORDS = frozenset({"password", "passwd", "passphrase", "pwd", "secret", "token", "apikey", "credentials"})
_SECRET_PAIRS = frozenset({("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"), ("auth", "key")})
_SECRET_COMPOUNDS = re.compile(r"password|passwd|secret|token|apikey|privatekey|accesskey")
# ... unless its last word says the value is about the secret, not the secret itself.
_NOT_THE_SECRET = frozenset(
    {
        "file", "path", "dir", "url", "uri", "endpoint", "name", "names", "type", "id", "ids", "env",
        "var", "length", "len", "size", "ttl", "expiry", "expires", "expiration", "timeout", "header",
        "prefix", "field", "policy", "enabled", "required", "count", "format", "version", "ref", "arn",
        "kind", "mode", "hash", "limit", "limits", "regex", "pattern", "command", "cmd", "provider",
        "method", "source", "store", "manager", "rotation", "usage", "tokens", "tokenizer", "max",
        "sha", "sha1", "sha256", "sha512", "md5", "checksum", "digest", "fingerprint",
    }
)  # fmt: skip
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _is_secret_key(key: str) -> bool:
    words = [w for w in re.split(r"[^a-z0-9]+", _CAMEL.sub("_", key).lower()) if w]
    if not words or words[-1] in _NOT_THE_SECRET:
        return False
    if any(w in _SECRET_WORDS for w in words) or any(p in _SECRET_PAIRS for p in zip(words, words[1:], strict=False)):
        return True
    # `dbpassword`, `githubtoken`: one word holding a credential word (not `tokens`, checked above).
    return any(_SECRET_COMPOUNDS.search(w) for w in words if w not in ("secrets",))


_PLACEHOLDER_WORDS = re.compile(
    r"change_?me|changeit|placeholder|example|dummy|sample|redacted|your[_-]|my[_-]?(?:password|secret|token)"
    r"|^(?:password|passwd|secret|token|test|testing|none|null|nil|true|false|yes|no|undefined|todo|fixme|tbd"
    r"|default|admin|root|guest|user|pass|empty|string|required|optional|value|str|int)$",
    re.IGNORECASE,
)
_REFERENCE = re.compile(
    r"^\$|\$\{|\$\(|\{\{|\}\}|^<.*>$|^%\(?\w+\)?[sd%]?$|^%\w+%$|^@\w|^!|^&|^\*|^\||^>|^ENC\[|^vault:|^ref\+"
    r"|^op://|^arn:|^projects/[^/]+/secrets/|^secretsmanager:|^file:|^env:|^\[|^\{"
)
_PATH = re.compile(r"^(?:/|\./|\.\./|~/|[A-Za-z]:\\)")
_REPEATS = re.compile(r"^(.)\1*$|x{4}|\*{3}|\.{3}", re.IGNORECASE)
_MIN_VALUE_CHARS = 6
_NAME_LIKE = re.compile(
    r"[a-z][a-z0-9]*(?:[_.-][a-z][a-z0-9]*)+"  # db_password, my-app.token
    r"|[A-Z][A-Z0-9]*(?:[_.][A-Z][A-Z0-9]*)+"  # GITHUB_TOKEN
    r"|[A-Za-z][a-z]+(?:[A-Z][a-z]*)*(?:\.[A-Za-z][a-z]+(?:[A-Z][a-z]*)*)*"  # nextToken, List.NextMarker
)


def names_a_placeholder(value: str) -> bool:
    """True for template references and placeholder words (`${X}`, `<token>`, `changeme`, `xxxx`),
    whatever the syntax: the quoted keyword rule drops these too outside parity mode."""
    return bool(_REFERENCE.search(value) or _REPEATS.search(value) or _PLACEHOLDER_WORDS.search(value))


def _decoded(value: str) -> str | None:
    """The text a base64 value stands for (Kubernetes Secret `data`), or None if it is not base64 text."""
    if len(value) % 4 or len(value) < 8:
        return None
    try:
        return base64.b64decode(value, validate=True).decode("utf-8").strip()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def is_placeholder(value: str, key: str = "") -> bool:
    """True for values that are not credentials: empty, short, numbers, paths, templates and
    variable references, placeholders (`changeme`, `<your-password>`, `xxxx`), or the key's own name."""
    if len(value) < _MIN_VALUE_CHARS or value.replace(".", "").replace("-", "").isdigit():
        return True
    if _REFERENCE.search(value) or _PATH.match(value) or _REPEATS.search(value) or _PLACEHOLDER_WORDS.search(value):
        return True
    # Prose (`"Unexpected_token": "Token inesperado."`, `passwd: files systemd`) is not a credential.
    if not value.isascii() or any(c.isspace() for c in value):
        return True
    # `password: db_password`, `token: GITHUB_TOKEN`, `"input_token": "nextToken"`: a name standing
    # for the value elsewhere, or words (generated secrets mix in digits or symbols).
    if _NAME_LIKE.fullmatch(value):
        return True
    return bool(key) and value.lower() == key.lower()


def _unquote(raw: str, start: int) -> tuple[str, int] | None:
    """The value and its offset without surrounding quotes and trailing comments; None if it spans lines."""
    value = raw.rstrip()
    if value and value[0] in "\"'":
        quote = value[0]
        end = value.find(quote, 1)
        if end == -1:
            return None  # unterminated (or multi-line) string
        return value[1:end], start + 1
    for marker in (" #", "\t#", " ;", "\t;"):
        cut = value.find(marker)
        if cut != -1:
            value = value[:cut].rstrip()
    return value, start


_YAML_PAIR = re.compile(r"[ \t]*(?:-[ \t]+)?([\"']?)([\w.\-/]{1,128})\1[ \t]*:(?:[ \t]+(.*))?$")
_DOTENV_PAIR = re.compile(r"[ \t]*(?:export[ \t]+)?([A-Za-z_][\w.\-]{0,127})[ \t]*=[ \t]*(.*)$")
_INI_PAIR = re.compile(r"[ \t]*([\w.\-/:]{1,128}?)[ \t]*[=:][ \t]*(.*)$")
_TOML_PAIR = re.compile(r"[ \t]*([\"']?)([\w.\-]{1,128})\1[ \t]*=[ \t]*(.*)$")
_JSON_PAIR = re.compile(r"\"([^\"\\\n]{1,128})\"[ \t]*:[ \t]*\"([^\"\\\n]{0,4096})\"")
_SHELL_PAIR = re.compile(r"[ \t]*(?:(?:export|local|readonly|declare(?:[ \t]+-\w+)?)[ \t]+)?([A-Za-z_]\w{0,127})=(.*)$")
_SHELL_FLAG = re.compile(r"--([a-z][\w-]{0,63})[= ]([^\s\"']\S{0,4095}|\"[^\"\n]{0,4096}\"|'[^'\n]{0,4096}')")
_DOCKER_INSTR = re.compile(r"[ \t]*(?:ENV|ARG)[ \t]+(.*)$", re.IGNORECASE)
_DOCKER_KV = re.compile(r"([A-Za-z_][\w.\-]{0,127})=(\"[^\"\n]*\"|'[^'\n]*'|\S*)")
_DOCKER_LEGACY = re.compile(r"([A-Za-z_][\w.\-]{0,127})[ \t]+(.+)$")


# syntax -> (line regex, key group, value group)
_LINE_PAIRS = {
    "yaml": (_YAML_PAIR, 2, 3),
    "dotenv": (_DOTENV_PAIR, 1, 2),
    "ini": (_INI_PAIR, 1, 2),
    "toml": (_TOML_PAIR, 2, 3),
    "shell": (_SHELL_PAIR, 1, 2),
}


def _lines(text: str) -> Iterator[tuple[int, str]]:
    pos = 0
    for line in text.split("\n"):
        yield pos, line
        pos += len(line) + 1


def _pairs(text: str, syntax: str) -> Iterator[tuple[str, str, int]]:
    """(key, raw value, value offset) for each assignment the syntax defines."""
    for pos, line in _lines(text):
        stripped = line.lstrip()
        if not stripped or stripped[0] in "#;" or stripped.startswith("//"):
            continue
        if syntax == "json":
            for m in _JSON_PAIR.finditer(line):
                yield m.group(1), '"' + m.group(2) + '"', pos + m.start(2) - 1
            continue
        if syntax == "dockerfile":
            yield from _docker_pairs(line, pos)
            continue
        if syntax == "shell":
            for m in _SHELL_FLAG.finditer(line):
                yield m.group(1), m.group(2), pos + m.start(2)
        regex, key_group, value_group = _LINE_PAIRS[syntax]
        pair = regex.match(line)
        if pair is not None and pair.group(value_group) is not None:
            yield pair.group(key_group), pair.group(value_group), pos + pair.start(value_group)


def _docker_pairs(line: str, pos: int) -> Iterator[tuple[str, str, int]]:
    m = _DOCKER_INSTR.match(line)
    if m is None:
        return
    body, offset = m.group(1), pos + m.start(1)
    pairs = list(_DOCKER_KV.finditer(body))
    if pairs:
        for kv in pairs:
            yield kv.group(1), kv.group(2), offset + kv.start(2)
        return
    legacy = _DOCKER_LEGACY.match(body)  # `ENV KEY value` (one pair per instruction)
    if legacy:
        yield legacy.group(1), legacy.group(2), offset + legacy.start(2)


def _kubernetes_secret_spans(text: str) -> Iterator[tuple[int, int]]:
    """Values under `data:` / `stringData:` of every `kind: Secret` document of a YAML stream."""
    for doc_start, doc in _documents(text):
        if not re.search(r"(?m)^kind:[ \t]*[\"']?Secret[\"']?[ \t]*$", doc):
            continue
        block: str | None = None
        block_indent = 0
        for pos, line in _lines(doc):
            stripped = line.lstrip()
            indent = len(line) - len(stripped)
            if not stripped or stripped.startswith("#"):
                continue
            if block is not None and indent <= block_indent:
                block = None
            head = re.match(r"(data|stringData):[ \t]*$", stripped)
            if head:
                block, block_indent = head.group(1), indent
                continue
            m = _YAML_PAIR.match(line)
            if block is None or m is None or m.group(3) is None:
                continue
            unquoted = _unquote(m.group(3), m.start(3))
            if unquoted is None:
                continue
            value, offset = unquoted
            if block == "data":  # base64 of the value (Kubernetes API, core/v1 Secret)
                decoded = _decoded(value)
                if decoded is None or is_placeholder(decoded):
                    continue
            elif is_placeholder(value):
                continue
            yield doc_start + pos + offset, doc_start + pos + offset + len(value)


def _documents(text: str) -> Iterator[tuple[int, str]]:
    start = 0
    for m in re.finditer(r"(?m)^---[ \t]*$", text):
        yield start, text[start : m.start()]
        start = m.end()
    yield start, text[start:]


def config_secret_spans(text: str, syntax: str) -> list[tuple[int, int]]:
    """Character spans [start, end) of credential values assigned in `text` under `syntax`.

    Args:
        text: a whole configuration file, or a fragment of one (a completion).
        syntax: one of CONFIG_SYNTAXES (see `config_syntax`).
    Returns:
        sorted, distinct value spans (the value only: no key, quotes or trailing comment).
    """
    if syntax not in CONFIG_SYNTAXES:
        raise ValueError(f"unknown config syntax: {syntax!r}")
    spans: set[tuple[int, int]] = set()
    for key, raw, offset in _pairs(text, syntax):
        if not _is_secret_key(key):
            continue
        unquoted = _unquote(raw, offset)
        if unquoted is None:
            continue
        value, start = unquoted
        decoded = _decoded(value)  # `password: Y2hhbmdlbWU=` (base64 of `changeme`)
        if not is_placeholder(value, key) and (decoded is None or not is_placeholder(decoded)):
            spans.add((start, start + len(value)))
    if syntax == "yaml":
        spans.update(_kubernetes_secret_spans(text))
    return sorted(spans)
