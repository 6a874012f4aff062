"""GatewaySettings: every setting of the gateway, typed, validated once, from CODESIEVE_* env vars.

Precedence (highest first): arguments to GatewaySettings(...) (the CLI passes its flags this way)
-> CODESIEVE_* environment variables -> a `.env` file -> the defaults below.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Values that must never reach production: refused unless environment == "development".
_PLACEHOLDER_SECRETS = {"changethis", "changeme", "secret", ""}


def default_data_dir() -> Path:
    """$XDG_DATA_HOME/codesieve (~/.local/share/codesieve): models, the SQLite file, spool, keys."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "codesieve"


def normalize_db_url(url: str, *, is_async: bool) -> str:
    """Map a user-given database URL to the driver we use (psycopg 3 for PostgreSQL, aiosqlite).

    `postgres://`, `postgresql://` and `postgresql+psycopg://` all mean PostgreSQL through psycopg 3,
    which serves both the async engine and Alembic's sync migrations.
    """
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    if url.startswith("sqlite+aiosqlite://") and not is_async:
        url = "sqlite://" + url[len("sqlite+aiosqlite://") :]
    elif url.startswith("sqlite://") and is_async:
        url = "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


class GatewaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CODESIEVE_", env_file=".env", extra="ignore", validate_default=True)

    environment: Literal["development", "production"] = Field(
        "development", description="production refuses placeholder secrets"
    )
    data_dir: Path = Field(default_factory=default_data_dir, description="models, SQLite, spool, keys")
    host: str = Field("127.0.0.1", description="address the gateway listens on")
    port: int = Field(8000, ge=1, le=65535, description="port the gateway listens on")

    # --- upstream (vLLM's OpenAI-compatible server)
    upstream_url: str | None = Field(
        None, description="a running vLLM server; unset = start one on `model_dir` (embedded default)"
    )
    upstream_api_key: str | None = Field(None, description="bearer token for the upstream, if any")
    model_dir: Path | None = Field(None, description="local model folder for the embedded vLLM")
    served_model_name: str | None = Field(
        None, description="model name the upstream serves; default: the folder name or upstream's first"
    )
    fim_template: str | None = Field(
        None, description="FIM template name; default: from the model folder's codesieve.json or its name"
    )
    vllm_port: int = Field(8100, ge=1, le=65535, description="port of the embedded vLLM server")
    vllm_max_model_len: int = Field(1024, ge=64, description="--max-model-len of the embedded vLLM")
    vllm_start_timeout_s: float = Field(300.0, gt=0, description="wait this long for vLLM /health")
    upstream_timeout_s: float = Field(30.0, gt=0, description="deadline for one upstream completion (504 after)")
    upstream_connect_timeout_s: float = Field(2.0, gt=0, description="TCP connect timeout to the upstream")

    # --- request limits
    max_body_bytes: int = Field(256 * 1024, ge=1024, description="larger request bodies get 413")
    max_tokens_default: int = Field(64, ge=1, description="max_tokens when a request gives none")
    max_tokens_limit: int = Field(512, ge=1, description="largest max_tokens a request may ask for")
    max_tokens_strict: bool = Field(
        False,
        description="answer 400 max_tokens_too_large over the limit; default: clamp to the limit "
        "and say so in x_codesieve.max_tokens_clamped (Continue asks for 4096)",
    )
    max_n: int = Field(4, ge=1, le=32, description="largest n (choices per request)")
    max_prompt_chars: int = Field(64 * 1024, ge=1, description="prefix+suffix larger than this get 400")

    # --- client compatibility
    model_aliases: dict[str, str] = Field(
        # llm.nvim / llm-ls send "bigcode/starcoder2-15b" unless configured otherwise.
        default_factory=lambda: {"bigcode/starcoder2-15b": "*"},
        description='client model name -> served model name ("*" = the gateway\'s model); '
        'JSON in CODESIEVE_MODEL_ALIASES, e.g. {"bigcode/starcoder2-15b": "*"}; answers name the model that served',
    )
    accept_any_model: bool = Field(
        False, description="serve every model name with the gateway's model (clients that hard-code a name)"
    )
    tabby_context_chars: int = Field(
        768,
        ge=0,
        le=65536,
        description="Tabby: characters of declarations/snippets rendered into the prompt (Tabby's server: 768)",
    )

    # --- auth and rate limit
    require_auth: bool = Field(True, description="require `Authorization: Bearer <key>` on /v1/*")
    rate_limit_per_s: float = Field(20.0, gt=0, description="token-bucket refill rate per API key")
    rate_limit_burst: int = Field(40, ge=1, description="token-bucket size per API key")
    redis_url: str | None = Field(None, description="share rate limits across replicas through Redis")
    pseudonym_key: str | None = Field(
        None, description="HMAC key for pseudonymous unit ids; default: generated once in data_dir"
    )

    # --- telemetry
    db_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite file in data_dir")
    auto_migrate: bool = Field(True, description="run Alembic migrations to head at startup")
    store_raw_text: bool = Field(False, description="store prompts/completions (redacted) in the DB")
    telemetry_batch_size: int = Field(200, ge=1, description="rows per INSERT batch")
    telemetry_flush_interval_s: float = Field(0.2, gt=0, description="max wait before a batch is written")
    telemetry_queue_size: int = Field(10000, ge=1, description="in-memory queue; beyond it rows spool to disk")

    # --- filters
    enable_filters: bool = Field(True, description="run the secret/licence/provenance filters on completions")
    index_dir: Path | None = Field(None, description="reference index (codesieve index build) for provenance")
    secrets_action: Literal["redact", "block"] = Field("redact", description="what to do with a secret in a completion")
    min_match_lexemes: int = Field(65, ge=10, description="provenance: shortest reported match, in lexemes")
    redact_before_model: bool = Field(
        False, description="replace prompt secrets with placeholders before vLLM; restore them in the completion"
    )

    # --- experiments and retention
    experiments_file: Path | None = Field(None, description="TOML/YAML file of experiment definitions")
    experiments_refresh_s: float = Field(10.0, gt=0, description="how often replicas reload experiments")
    retention_days: int | None = Field(
        None, ge=1, description="delete raw telemetry rows older than this, keeping per-unit daily aggregates"
    )

    @field_validator("model_aliases")
    @classmethod
    def _aliases(cls, v: dict[str, str]) -> dict[str, str]:
        if any(not k or len(k) > 200 or not t or len(t) > 200 for k, t in v.items()):
            raise ValueError("model aliases map non-empty names of at most 200 characters")
        return v

    # --- operator console (gateway/console/)
    console_enabled: bool = Field(True, description="serve the browser console under /console")
    console_session_ttl_s: int = Field(
        8 * 3600, ge=60, le=7 * 24 * 3600, description="a console sign-in expires after this many seconds"
    )
    console_report_max_age_s: float = Field(
        60.0, gt=0, description="a console page shows a live A/B report computed at most this long ago"
    )
    console_rollup_interval_s: float = Field(
        300.0, gt=0, description="how often the console's daily rollups are refreshed (PostgreSQL)"
    )

    @field_validator("upstream_url")
    @classmethod
    def _strip_slash(cls, v: str | None) -> str | None:
        return v.rstrip("/") if v else v

    @model_validator(mode="after")
    def _check(self) -> GatewaySettings:
        if self.max_tokens_default > self.max_tokens_limit:
            raise ValueError("max_tokens_default must not exceed max_tokens_limit")
        if self.environment == "production":
            # Replicas must agree on unit ids (and so on experiment arms): one explicit, shared key.
            if self.pseudonym_key is None or self.pseudonym_key.lower() in _PLACEHOLDER_SECRETS:
                raise ValueError("production needs CODESIEVE_PSEUDONYM_KEY set to a real secret shared by all replicas")
            if not self.require_auth:
                raise ValueError("require_auth cannot be off in production")
        return self

    @property
    def resolved_db_url(self) -> str:
        return self.db_url or f"sqlite:///{self.data_dir / 'codesieve.db'}"

    @property
    def async_db_url(self) -> str:
        return normalize_db_url(self.resolved_db_url, is_async=True)

    @property
    def sync_db_url(self) -> str:
        return normalize_db_url(self.resolved_db_url, is_async=False)

    @property
    def spool_dir(self) -> Path:
        return self.data_dir / "spool"


@lru_cache
def get_settings() -> GatewaySettings:
    return GatewaySettings()
