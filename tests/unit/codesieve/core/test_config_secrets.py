"""Unquoted secrets in configuration files, read with each file type's syntax (issue 19).

The secret-looking values here are built at run time from pieces, so no scanner flags this file.
"""

from __future__ import annotations

import base64

import pytest

from codesieve.core.config_secrets import config_secret_spans, config_syntax, is_placeholder
from codesieve.core.secret_scan import scan_secrets
from gateway.filters.base import FilterPolicy
from gateway.filters.chain import FilterChain

PW = "Xk9" + "vQ2rL7" + "mZ4p"  # a password-like value (12 characters, mixed)
PW2 = "Qq8" + "Zz1Ww9" + "Ee3r"


@pytest.mark.parametrize(
    ("filename", "language", "syntax"),
    [
        ("config/app.yml", None, "yaml"),
        ("deploy.yaml", None, "yaml"),
        (".env", None, "dotenv"),
        (".env.production", None, "dotenv"),
        ("prod.env", None, "dotenv"),
        ("setup.cfg", None, "ini"),
        ("my.cnf", None, "ini"),
        ("app.properties", None, "ini"),
        ("pyproject.toml", None, "toml"),
        ("secrets.json", None, "json"),
        ("deploy.sh", None, "shell"),
        ("Dockerfile", None, "dockerfile"),
        ("Dockerfile.dev", None, "dockerfile"),
        ("C:\\work\\app.yaml", None, "yaml"),
        (None, "yaml", "yaml"),
        (None, "dotenv", "dotenv"),
        (None, "shellscript", "shell"),
        ("main.py", "python", None),
        ("main.py", None, None),
        (None, None, None),
    ],
)
def test_config_syntax_by_file_name_then_language(
    filename: str | None, language: str | None, syntax: str | None
) -> None:
    assert config_syntax(filename, language) == syntax


# (file name, text, the secret values it holds)
POSITIVES = [
    ("app.yml", f"db:\n  host: db.internal\n  password: {PW}\n", [PW]),
    ("app.yml", f'auth:\n  apiKey: {PW}  # prod\n  client_secret: "{PW2}"\n', [PW, PW2]),
    ("app.yml", f"users:\n  - name: ci\n    token: {PW}\n", [PW]),
    (".env", f'DB_HOST=db\nDB_PASSWORD={PW}\nexport API_TOKEN="{PW2}"\n', [PW, PW2]),
    (".env", f"STRIPE_SECRET_KEY={PW} # live\n", [PW]),
    ("setup.cfg", f"[database]\nuser = app\npassword = {PW}\n", [PW]),
    ("my.cnf", f"[client]\npassword={PW}\n", [PW]),
    ("app.properties", f"spring.datasource.password: {PW}\n", [PW]),
    ("pyproject.toml", f'[tool.deploy]\nregistry_token = "{PW}"\n', [PW]),
    ("secrets.json", f'{{"auth": {{"token": "{PW}", "tokenType": "bearer"}}}}\n', [PW]),
    ("deploy.sh", f"#!/bin/sh\nexport DB_PASSWORD='{PW}'\nmysql --password={PW2} app\n", [PW, PW2]),
    ("Dockerfile", f"FROM python:3.12\nENV API_TOKEN={PW} MODE=prod\nENV SECRET_KEY {PW2}\n", [PW, PW2]),
    ("Dockerfile", f"ARG NPM_TOKEN={PW}\n", [PW]),
    (
        "secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n"
        f"  username: {base64.b64encode(b'app').decode()}\n  conn: {base64.b64encode(PW.encode()).decode()}\n"
        f"stringData:\n  dsn: {PW2}\n",
        [base64.b64encode(PW.encode()).decode(), PW2],
    ),
]


@pytest.mark.parametrize(("filename", "text", "secrets"), POSITIVES)
def test_unquoted_config_secrets_are_found_with_the_files_syntax(filename: str, text: str, secrets: list[str]) -> None:
    syntax = config_syntax(filename)
    assert syntax is not None
    found = [text[f.start : f.end] for f in scan_secrets(text, syntax=syntax) if f.detector == "secret_keyword"]
    assert found == secrets
    # Without the syntax (the quoted rule only) the unquoted ones were missed: the gap.
    plain = {text[f.start : f.end] for f in scan_secrets(text)}
    assert set(secrets) - plain, "this case must exercise an unquoted value"


NEGATIVES = [
    ("app.yml", "db:\n  password: ${DB_PASSWORD}\n  token: '<your-token>'\n  secret: changeme\n"),
    ("app.yml", "  password: ${{ secrets.DB_PASSWORD }}\n  api_key: \n  token: xxxxxxxxxxxx\n  secret: '********'\n"),
    ("app.yml", "model:\n  max_tokens: 4096\n  tokenizer: gpt2-large\n  secret_name: db-credentials\n"),
    ("app.yml", "auth:\n  password_file: /run/secrets/db\n  token_url: https://auth.example.com/token\n"),
    (
        "app.yml",
        "env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef:\n        name: db\n        key: password\n",
    ),
    ("app.yml", "password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\ntoken: &tok example-token-value\n"),
    (".env", "DB_PASSWORD=\nAPI_TOKEN=${API_TOKEN}\nSECRET=$(cat /run/secret)\nPWD=/home/app\n"),
    (".env", "GITHUB_TOKEN=GITHUB_TOKEN\nPASSWORD=password\nAPI_KEY=your-api-key-here\n"),
    ("setup.cfg", "[db]\npassword = %(DB_PASSWORD)s\ntoken = <token>\n# password = old-one-9\n"),
    ("pyproject.toml", '[tool.x]\ntoken = ""\npassword = "changeme"\nsecret = "${SECRET}"\n'),
    ("messages.json", '{"Unexpected_token_1012": "Token inesperado.", "input_token": "nextToken"}\n'),
    ("deploy.sh", 'TOKEN="$1"\nexport DB_PASSWORD="${DB_PASSWORD:-}"\ncurl --token "$TOKEN" x\n'),
    ("Dockerfile", "ARG DB_PASSWORD\nENV API_TOKEN=${API_TOKEN}\nENV SECRET_KEY=\n"),
    (
        "secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ndata:\n"
        f"  password: {base64.b64encode(b'changeme').decode()}\nstringData:\n  token: ${{TOKEN}}\n",
    ),
    ("configmap.yaml", "apiVersion: v1\nkind: ConfigMap\ndata:\n  mode: " + "aGVsbG8td29ybGQ=" + "\n"),
]


@pytest.mark.parametrize(("filename", "text"), NEGATIVES)
def test_placeholders_and_references_are_not_flagged(filename: str, text: str) -> None:
    assert scan_secrets(text, syntax=config_syntax(filename)) == []


@pytest.mark.parametrize(
    "value", ["", "xxx", "changeme", "<your-password>", "${VAR}", "$VAR", "{{ .Values.pw }}", "12345678", "/etc/pw"]
)
def test_is_placeholder(value: str) -> None:
    assert is_placeholder(value)


def test_spans_are_values_only_and_syntax_is_validated() -> None:
    text = f"password: '{PW}'  # comment\n"
    assert config_secret_spans(text, "yaml") == [(11, 11 + len(PW))]
    with pytest.raises(ValueError, match="unknown config syntax"):
        config_secret_spans(text, "xml")


def test_source_code_keeps_the_quoted_rule() -> None:
    """A Python/JS assignment of a bare name is a variable, not a secret: no syntax, no change."""
    text = "password = get_password()\ntoken = PW\n"
    assert scan_secrets(text, syntax=config_syntax("app.py")) == []


def test_completion_value_after_a_key_in_the_prompt_is_redacted() -> None:
    """The gateway knows the file: `password: ` ends the prompt and the model writes the value."""
    chain = FilterChain(FilterPolicy())
    result = chain.check_completion(f"{PW}\n  host: db\n", context_before="db:\n  password: ", syntax="yaml")
    assert PW not in result.text and result.text.startswith("<SECRET>")
    assert [f.reason for f in result.findings] == ["secret.secret_keyword"]
    plain = chain.check_completion(f"{PW}\n  host: db\n", context_before="db:\n  password: ")
    assert PW in plain.text  # without the file's syntax the value is not seen


def test_hostile_long_config_lines_stay_linear() -> None:
    """One anchored regex per line: 200,000-character lines of keys and separators scan in one pass."""
    for syntax in ("yaml", "dotenv", "ini", "toml", "json", "shell", "dockerfile"):
        for line in ("password" * 25_000, "a:" * 100_000, '"k":' * 50_000, "ENV " + "A=b " * 50_000):
            assert isinstance(config_secret_spans(line + "\n" + line, syntax), list)
