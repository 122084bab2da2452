"""All configuration, read from the environment (``ASSISTANT_*``) or ``.env``.

Read settings only through :func:`get_settings`; tests pass ``create_app(settings=Settings(...))``.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

from pydantic import BaseSettings, SecretStr, validator

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Typed settings; every field maps to ``ASSISTANT_<NAME>``."""

    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = f"sqlite:///{ROOT / 'var' / 'assistant.db'}"
    redis_url: str | None = None
    action_endpoint: str | None = None
    procedures_dir: Path = ROOT / "procedures"
    nlu_data_dir: Path = ROOT / "nlu_data"
    models_dir: Path = ROOT / "models"
    log_level: str = "INFO"

    zalo_app_id: str | None = None
    zalo_oa_secret: SecretStr | None = None
    zalo_access_token: SecretStr | None = None
    zalo_api_base: str = "https://openapi.zalo.me"
    messenger_verify_token: SecretStr | None = None
    messenger_app_secret: SecretStr | None = None
    messenger_page_token: SecretStr | None = None
    messenger_api_base: str = "https://graph.facebook.com/v21.0"

    session_secret: SecretStr | None = None
    handoff_hours: str = "7:30–11:30 và 13:30–17:00, thứ Hai đến thứ Sáu"
    #: Pretend today is this day (YYYY-MM-DD) when judging fees and facts; unset = Vietnam's real date.
    #: For tests and demos only (e.g. to see the answers after a fee change ahead of time).
    today: date | None = None

    class Config:
        env_prefix = "ASSISTANT_"
        env_file = ".env"

    @validator(
        "redis_url",
        "action_endpoint",
        "zalo_app_id",
        "zalo_oa_secret",
        "zalo_access_token",
        "messenger_verify_token",
        "messenger_app_secret",
        "messenger_page_token",
        "session_secret",
        "today",
        pre=True,
    )
    def _empty_is_unset(cls, value: object) -> object:  # noqa: N805
        """Treat ``ASSISTANT_X=`` (empty) as unset, so an empty secret never enables a channel."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def actions_url(self) -> str:
        """Where Rasa sends custom-action calls: this app's ``/webhook`` unless configured."""
        return self.action_endpoint or f"http://127.0.0.1:{self.port}/webhook"

    @property
    def zalo_enabled(self) -> bool:
        """Zalo OA is on only when all its secrets are set."""
        return bool(self.zalo_app_id and self.zalo_oa_secret and self.zalo_access_token)

    @property
    def messenger_enabled(self) -> bool:
        """Messenger is on only when all its secrets are set."""
        return bool(self.messenger_verify_token and self.messenger_app_secret and self.messenger_page_token)


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return Settings()
