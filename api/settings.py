"""The service's one configuration object; the only place that reads the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    """Read from ``BLINDSUM_*`` environment variables (nested with ``__``)."""

    model_config = SettingsConfigDict(env_prefix="BLINDSUM_", env_nested_delimiter="__",
                                      extra="forbid")

    environment: Literal["dev", "prod"] = "dev"
    data_dir: Path = Path("blindsum-data")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default: SQLite in data_dir")
    admin_token: SecretStr | None = Field(
        default=None, description="Bearer token for federation management (>= 32 characters)")
    custody_kek: SecretStr | None = Field(
        default=None, description="base64url 32-byte key that seals CKKS secret keys at rest")
    invite_ttl_seconds: int = Field(default=7 * 24 * 3600, gt=0)
    sweep_interval_seconds: float = Field(default=1.0, gt=0,
                                          description="How often each worker closes overdue stages")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    @model_validator(mode="after")
    def _refuse_insecure_production(self) -> Settings:
        if self.environment == "prod":
            token = self.admin_token.get_secret_value() if self.admin_token else ""
            if len(token) < 32:
                raise ValueError("in prod, BLINDSUM_ADMIN_TOKEN must be set to >= 32 characters "
                                 "(generate one: python -c 'import secrets; "
                                 "print(secrets.token_urlsafe(32))')")
            if self.custody_kek is None:
                raise ValueError("in prod, BLINDSUM_CUSTODY_KEK must be set (base64url of 32 "
                                 "random bytes: python -c 'import base64, os; "
                                 "print(base64.urlsafe_b64encode(os.urandom(32)).decode())')")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'blindsum.db'}"
