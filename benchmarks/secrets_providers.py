"""Labelled provider benchmark of the secret scanner (issue 19), ours beside detect-secrets 1.5.

    .venv/bin/python benchmarks/secrets_providers.py [--per-provider 5] [--seed 0]

Generated and deterministic (seeded); written as files under a temporary directory, each with the
name its syntax implies (`settings.py`, `.env`, `values.yaml`, `app.ini`, `pyproject.toml`,
`config.json`, `deploy.sh`, `Dockerfile`), and scanned as the CLIs scan files: ours with
`scan_secrets(text, syntax=config_syntax(name))` (what `codesieve scan` and `dedup scrub-secrets`
run), detect-secrets with `SecretsCollection.scan_file` under its default settings (every plugin,
default filters: what `detect-secrets scan FILE` runs).

- For each provider (our 58 format rules, GitHub with its checksum, and detect-secrets' own
  credential formats): --per-provider secrets, each in a different context (assignment, dict
  literal, function argument, quoted and unquoted .env, YAML, INI, TOML, JSON, URL query), and
  --per-provider look-alikes (a same-shape placeholder, a wrong checksum or a docs-style cut token,
  a SHA-256, a UUID, a base64 blob, in code and config).
- Config keywords: a password/token assigned without quotes in each syntax (YAML, .env, INI, TOML,
  JSON, shell, Dockerfile, a Kubernetes Secret), and placeholders/references in the same places.

A secret counts as found when a finding overlaps it; a look-alike file counts as a false flag when
anything is reported in it. Targets: recall >= 99%, false flags <= 1%.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import random
import string
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from filters_data import SECRET_MAKERS  # noqa: E402

from codesieve.core.config_secrets import config_syntax  # noqa: E402
from codesieve.core.secret_scan import scan_secrets  # noqa: E402
from codesieve.testing.secret_tokens import PROVIDER_TOKEN_MAKERS  # noqa: E402

# (file name, template): {t} the secret, {k} an upper-case key stem, {v} a lower-case key stem.
CONTEXTS = (
    ("settings.py", '{K}_API_KEY = "{t}"\n'),
    ("client.py", 'config = {{"{v}": {{"token": "{t}", "timeout": 30}}}}\n'),
    ("main.py", 'client = Client(api_token="{t}", retries=3)\n'),
    (".env", '{K}_TOKEN="{t}"\n'),
    (".env", "{K}_API_KEY={t}\n"),
    ("values.yaml", "{v}:\n  enabled: true\n  apiToken: {t}\n"),
    ("app.ini", "[{v}]\nendpoint = https://api.example.com\ntoken = {t}\n"),
    ("pyproject.toml", '[tool.{v}]\ntoken = "{t}"\n'),
    ("config.json", '{{"{v}": {{"url": "https://api.example.com", "credential": "{t}"}}}}\n'),
    ("fetch.py", 'URL = "https://api.example.com/v1/items?access_token={t}&page=2"\n'),
)
# Where look-alikes appear: (file name, template) with {x} the look-alike.
LOOK_ALIKE_CONTEXTS = (
    (".env.example", "{K}_TOKEN={x}\n"),
    ("docs.py", '# e.g. {K}_API_KEY = "{x}"\nEXAMPLE = "{x}"\n'),
    ("checksums.yaml", "{v}:\n  sha256: {x}\n"),
    ("ids.json", '{{"{v}_id": "{x}", "kind": "request"}}\n'),
    ("fixtures.py", 'EXPECTED_B64 = "{x}"\n'),
)
_ALNUM = string.ascii_letters + string.digits
# detect-secrets' formats (SECRET_MAKERS) that are credentials with a shape; the keyword and
# entropy makers are guesses, measured in the config section instead.
_DS_FORMATS = sorted(set(SECRET_MAKERS) - {"secret_keyword", "base64_high_entropy_string", "hex_high_entropy_string"})


# detect-secrets formats that are defined by their context (a URL's password, a value after a
# `cloudant`/`ibm`/`softlayer` keyword, an `.npmrc` auth line, a PEM block): placed in their own
# line (filters_data.SECRET_MAKERS), not in the contexts above.
_CONTEXT_BOUND = {
    "basic_auth": "settings.py",
    "cloudant_credentials": "settings.py",
    "ibm_cloud_iam_key": "settings.py",
    "ibm_cos_hmac": "settings.py",
    "softlayer_credentials": "settings.py",
    "npm_token": ".npmrc",
    "private_key": "keys.py",
}


def _positive(provider: str, token: str, i: int, key: str) -> tuple[str, str]:
    if provider in _CONTEXT_BOUND:
        line = SECRET_MAKERS[provider][1].format(s=token, v=key)
        return _CONTEXT_BOUND[provider], line + "\n"
    name, template = CONTEXTS[i % len(CONTEXTS)]
    return name, template.format(t=token, K=key.upper(), v=key)


def _head(token: str) -> str:
    seps = [i for i, c in enumerate(token[:16]) if c in "-_."]
    return token[: seps[-1] + 1] if seps else token[:4]


def _look_alikes(token: str, rng: random.Random) -> list[str]:
    """Placeholder of the same shape, a wrong-checksum or docs-cut token, a SHA-256, a UUID, base64."""
    head = _head(token)
    if token.startswith(("ghp_", "gho_", "ghs_", "npm_")):
        broken = token[:-6] + ("1" if token[-6] != "1" else "2") + token[-5:]  # wrong checksum
    elif token.startswith("AGE-SECRET-KEY-1"):
        broken = token[:-1] + ("Q" if token[-1] != "Q" else "P")  # wrong Bech32 checksum
    else:
        broken = token[: len(head) + 6] + "..."  # how docs show a key
    return [
        head + "x" * max(len(token) - len(head), 8),
        broken,
        hashlib.sha256(rng.randbytes(16)).hexdigest(),
        str(uuid.UUID(int=rng.getrandbits(128))),
        base64.b64encode(rng.randbytes(rng.randrange(24, 48))).decode(),
    ]


def _makers() -> dict[str, Callable[[random.Random], str]]:
    makers: dict[str, Callable[[random.Random], str]] = dict(PROVIDER_TOKEN_MAKERS)
    for detector in _DS_FORMATS:
        makers[detector] = SECRET_MAKERS[detector][0]
    return makers


def _config_cases(rng: random.Random, n: int) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """Unquoted keyword secrets per syntax (positives) and placeholders in the same places."""

    def pw() -> str:
        return "".join(rng.choice(_ALNUM) for _ in range(10)) + rng.choice("!#%&*@") + str(rng.randrange(10, 99))

    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    pos_templates = (
        ("values.yaml", "db:\n  host: db.internal\n  password: {s}\n"),
        (".env", "DB_HOST=db\nDB_PASSWORD={s}\n"),
        ("app.ini", "[database]\nuser = app\npassword = {s}\n"),
        ("config.toml", '[db]\nauth_token = "{s}"\n'),
        ("config.json", '{{"db": {{"token": "{s}"}}}}\n'),
        ("deploy.sh", "export API_TOKEN={s}\n"),
        ("Dockerfile", "FROM python:3.12\nENV DB_PASSWORD={s}\n"),
        ("secret.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n  dsn: {b}\n"),
    )
    neg_templates = (
        ("values.yaml", "db:\n  password: ${{DB_PASSWORD}}\n  token: <your-token>\n"),
        (".env", "DB_PASSWORD=changeme\nAPI_TOKEN=\n"),
        ("app.ini", "[database]\npassword = %(DB_PASSWORD)s\n"),
        ("config.toml", '[db]\nauth_token = "${{TOKEN}}"\n'),
        ("config.json", '{{"db": {{"token": "{{{{ .Values.token }}}}", "tokenType": "bearer"}}}}\n'),
        ("deploy.sh", 'export API_TOKEN="$(vault read -field=token secret/api)"\n'),
        ("ci.yaml", "env:\n  GH_TOKEN: ${{{{ secrets.GH_TOKEN }}}}\n  max_tokens: 4096\n"),
        ("secret.yaml", "apiVersion: v1\nkind: Secret\ndata:\n  password: " + b64("changeme") + "\n"),
    )
    positives = []
    for i in range(n * len(pos_templates)):
        name, template = pos_templates[i % len(pos_templates)]
        secret = pw()
        text = template.format(s=secret, b=b64(secret))
        positives.append((name, text, b64(secret) if "{b}" in template else secret))
    negatives = [neg_templates[i % len(neg_templates)] for i in range(n * len(neg_templates))]
    return positives, negatives


def _ds_lines(path: Path) -> set[int]:
    from detect_secrets import SecretsCollection

    collection = SecretsCollection()
    collection.scan_file(str(path))
    return {s.line_number for found in collection.data.values() for s in found}


def _ours(path: Path, text: str) -> list[tuple[int, int]]:
    return [(f.start, f.end) for f in scan_secrets(text, syntax=config_syntax(path.name))]


def run(per_provider: int, seed: int) -> None:
    from detect_secrets.settings import default_settings

    rng = random.Random(seed)
    makers = _makers()
    # provider, secrets, found by ours, by detect-secrets, look-alikes, flagged by ours, by detect-secrets
    rows: list[tuple[str, int, int, int, int, int, int]] = []
    with tempfile.TemporaryDirectory() as tmp, default_settings():
        root = Path(tmp)
        counter = 0

        def write(name: str, text: str) -> Path:
            nonlocal counter
            counter += 1
            folder = root / f"{counter:05d}"
            folder.mkdir()
            path = folder / name
            path.write_text(text)
            return path

        for provider in sorted(makers):
            hit_ours = hit_ds = fp_ours = fp_ds = 0
            key = provider.split("_")[0]
            for i in range(per_provider):
                token = makers[provider](rng)
                name, text = _positive(provider, token, i + len(rows), key)
                path = write(name, text)
                start = text.index(token)
                line = text.count("\n", 0, start) + 1
                hit_ours += any(s < start + len(token) and e > start for s, e in _ours(path, text))
                hit_ds += line in _ds_lines(path)
            fakes = _look_alikes(makers[provider](rng), rng)[:per_provider]
            for i, fake in enumerate(fakes):
                name, template = LOOK_ALIKE_CONTEXTS[i % len(LOOK_ALIKE_CONTEXTS)]
                text = template.format(x=fake, K=key.upper(), v=key)
                path = write(name, text)
                fp_ours += bool(_ours(path, text))
                fp_ds += bool(_ds_lines(path))
            rows.append((provider, per_provider, hit_ours, hit_ds, len(fakes), fp_ours, fp_ds))
        positives, negatives = _config_cases(rng, per_provider)
        c_ours = c_ds = 0
        for name, text, secret in positives:
            path = write(name, text)
            start = text.index(secret)
            c_ours += any(s < start + len(secret) and e > start for s, e in _ours(path, text))
            c_ds += text.count("\n", 0, start) + 1 in _ds_lines(path)
        n_ours = n_ds = 0
        for name, text in negatives:
            path = write(name, text)
            n_ours += bool(_ours(path, text))
            n_ds += bool(_ds_lines(path))
    _report(rows, (len(positives), c_ours, c_ds, len(negatives), n_ours, n_ds))


def _report(rows: list[tuple[str, int, int, int, int, int, int]], config: tuple[int, int, int, int, int, int]) -> None:
    print(
        f"{'provider':30s} {'n':>3s} {'ours':>5s} {'d-s':>5s} | look-alikes {'n':>3s} flagged {'ours':>4s} {'d-s':>4s}"
    )
    for provider, n, ours, ds, m, fp_o, fp_d in rows:
        print(f"{provider:30s} {n:3d} {ours:5d} {ds:5d} |             {m:3d}         {fp_o:4d} {fp_d:4d}")
    n, m = sum(r[1] for r in rows), sum(r[4] for r in rows)
    ours, ds = sum(r[2] for r in rows), sum(r[3] for r in rows)
    fp_o, fp_d = sum(r[5] for r in rows), sum(r[6] for r in rows)
    worst = min(rows, key=lambda r: r[2] / r[1])
    print(f"\n== providers ({len(rows)}): {n} secrets, {m} look-alikes")
    print(f"recall        ours {ours / n:7.2%}   detect-secrets 1.5 {ds / n:7.2%}   (target >= 99%)")
    print(f"false flags   ours {fp_o / m:7.2%}   detect-secrets 1.5 {fp_d / m:7.2%}   (target <= 1%)")
    print(f"lowest provider recall (ours): {worst[0]} {worst[2]}/{worst[1]}")
    cp, co, cd, cn, no, nd = config
    print(f"\n== config keywords (8 syntaxes): {cp} unquoted secrets, {cn} placeholder files")
    print(f"recall        ours {co / cp:7.2%}   detect-secrets 1.5 {cd / cp:7.2%}")
    print(f"false flags   ours {no / cn:7.2%}   detect-secrets 1.5 {nd / cn:7.2%}")
    total_n, total_hit, total_fp = n + cp, ours + co, fp_o + no
    recall, false_rate = total_hit / total_n, total_fp / (m + cn)
    verdict = "PASS" if recall >= 0.99 and false_rate <= 0.01 else "FAIL"
    print(f"\noverall ours: recall {recall:.2%} (>= 99%), false flags {false_rate:.2%} (<= 1%)  {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-provider", type=int, default=5, help="secrets and look-alikes per provider")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    run(args.per_provider, args.seed)


if __name__ == "__main__":
    main()
