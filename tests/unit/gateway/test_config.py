"""GatewaySettings: precedence (init > env > .env > default), validation, DSN normalisation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.config import GatewaySettings, normalize_db_url


def test_precedence_init_over_env_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("CODESIEVE_PORT=7001\nCODESIEVE_MAX_N=3\nCODESIEVE_MAX_TOKENS_LIMIT=100\n")
    monkeypatch.setenv("CODESIEVE_PORT", "7002")
    s = GatewaySettings(max_n=2)
    assert s.max_n == 2  # init
    assert s.port == 7002  # env over .env
    assert s.max_tokens_limit == 100  # .env over default


def test_production_refuses_placeholders_and_missing_pseudonym_key() -> None:
    with pytest.raises(ValidationError, match="PSEUDONYM_KEY"):
        GatewaySettings(environment="production")
    with pytest.raises(ValidationError, match="PSEUDONYM_KEY"):
        GatewaySettings(environment="production", pseudonym_key="changethis")
    with pytest.raises(ValidationError, match="require_auth"):
        GatewaySettings(environment="production", pseudonym_key="x" * 40, require_auth=False)
    assert GatewaySettings(environment="production", pseudonym_key="x" * 40).require_auth


@pytest.mark.parametrize(
    "field",
    [{"port": 0}, {"max_n": 0}, {"upstream_timeout_s": -1}, {"max_tokens_default": 600, "max_tokens_limit": 512}],
)
def test_ranges_are_checked(field: dict) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(**field)


@pytest.mark.parametrize(
    ("url", "is_async", "expected"),
    [
        ("postgres://u@h/db", False, "postgresql+psycopg://u@h/db"),
        ("postgresql://u@h/db", True, "postgresql+psycopg://u@h/db"),
        ("sqlite:////tmp/x.db", True, "sqlite+aiosqlite:////tmp/x.db"),
        ("sqlite+aiosqlite:////tmp/x.db", False, "sqlite:////tmp/x.db"),
    ],
)
def test_db_url_normalisation(url: str, is_async: bool, expected: str) -> None:
    assert normalize_db_url(url, is_async=is_async) == expected


def test_default_db_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    s = GatewaySettings(data_dir=tmp_path)
    assert s.sync_db_url == f"sqlite:///{tmp_path / 'codesieve.db'}"
