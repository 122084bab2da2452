"""All configuration, read from the environment (``ASSISTANT_*``) or ``.env``.

Read settings only through :func:`get_settings`; tests pass ``create_app(settings=Settings(...))``.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseSettings, SecretStr, root_validator, validator

ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Typed settings; every field maps to ``ASSISTANT_<NAME>``."""

    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = f"sqlite:///{ROOT / 'var' / 'assistant.db'}"
    redis_url: str | None = None
    action_endpoint: str | None = None
    #: Shared secret between the agent and a separate action server (Rasa's endpoint ``token``).
    action_token: SecretStr | None = None
    procedures_dir: Path = ROOT / "procedures"
    nlu_data_dir: Path = ROOT / "nlu_data"
    models_dir: Path = ROOT / "models"
    log_level: str = "INFO"
    #: Largest request body accepted (after inflating a compressed one); larger is answered 413.
    max_body_bytes: int = 1_000_000
    #: Deepest nesting of a JSON body; deeper is answered 400.
    max_json_depth: int = 32
    #: Proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (uvicorn's ``forwarded_allow_ips``):
    #: comma-separated IPs, or ``*`` behind a proxy that is the only way in.
    forwarded_allow_ips: str = "127.0.0.1"
    #: Run the database migrations when the app starts; ``assistant serve --workers N`` runs them once, before
    #: the workers, and turns this off for them.
    migrate_on_start: bool = True

    zalo_app_id: str | None = None
    zalo_oa_secret: SecretStr | None = None
    zalo_access_token: SecretStr | None = None
    #: Token renewal: the first refresh token (a seed; the rotated pair lives in the database) and the app secret.
    zalo_refresh_token: SecretStr | None = None
    zalo_app_secret: SecretStr | None = None
    zalo_api_base: str = "https://openapi.zalo.me"
    zalo_oauth_base: str = "https://oauth.zaloapp.com"
    messenger_verify_token: SecretStr | None = None
    messenger_app_secret: SecretStr | None = None
    messenger_page_token: SecretStr | None = None
    messenger_api_base: str = "https://graph.facebook.com/v21.0"

    session_secret: SecretStr | None = None
    #: Bearer token a Prometheus scraper sends to ``/metrics``; unset: only clients on this machine may read it.
    metrics_token: SecretStr | None = None
    #: Portal origins allowed to embed the web widget (comma-separated ``scheme://host[:port]``; ``*`` = any).
    #: The assistant's own origin (the demo page) is always allowed.
    allowed_origins: str = ""
    #: The page with the widget that a desk case's QR code opens (``<page>?hoso=<code>``): an absolute http(s)
    #: URL of a portal page that embeds the widget. Unset: this server's own demo page ``/``.
    public_url: str | None = None
    #: How long a desk case's QR code opens the case on a phone, in days.
    desk_case_days: float = 7.0
    handoff_hours: str = "7:30–11:30 và 13:30–17:00, thứ Hai đến thứ Sáu"
    #: When staff are at the desk, Vietnam time: ``<days> <from>-<to>[,<from>-<to>]``, groups joined by ``;``
    #: (days ``mon``…``sun``, ranges like ``mon-fri``). Empty: always. Outside, a hand-off collects a call-back contact.
    desk_hours: str = "mon-fri 07:30-11:30,13:30-17:00"
    #: A hand-off with no staff action (claim, reply) for this many minutes goes back to the bot; 0: never.
    handoff_timeout_minutes: float = 15.0
    #: A conversation idle this long starts a new Rasa session (slots carried over); 0: never.
    session_expiration_minutes: float = 720.0
    #: Conversations whose tracker each process keeps in memory (checked against the store before use); 0: none.
    tracker_cache_size: int = 1000
    #: Zalo/Messenger sends: attempts per delivery round (backoff doubles from ``outbox_retry_seconds``).
    outbox_attempts: int = 4
    outbox_retry_seconds: float = 0.5
    #: How often the background worker answers accepted events, retries sends and times hand-offs out.
    worker_interval_seconds: float = 5.0
    #: Pretend today is this day (YYYY-MM-DD) when judging fees and facts; unset = Vietnam's real date.
    #: For tests and demos only (e.g. to see the answers after a fee change ahead of time).
    today: date | None = None

    class Config:
        env_prefix = "ASSISTANT_"
        env_file = ".env"

    @validator(
        "redis_url",
        "action_endpoint",
        "action_token",
        "zalo_app_id",
        "zalo_oa_secret",
        "zalo_access_token",
        "zalo_refresh_token",
        "zalo_app_secret",
        "messenger_verify_token",
        "messenger_app_secret",
        "messenger_page_token",
        "session_secret",
        "metrics_token",
        "public_url",
        "today",
        pre=True,
    )
    def _empty_is_unset(cls, value: object) -> object:  # noqa: N805
        """Treat ``ASSISTANT_X=`` (empty) as unset, so an empty secret never enables a channel."""
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @root_validator(skip_on_failure=True)
    def _action_server_needs_token(cls, values: dict[str, Any]) -> dict[str, Any]:  # noqa: N805
        """A separate action server is reached only with a shared token: never an open action endpoint."""
        if values.get("action_endpoint") and not values.get("action_token"):
            raise ValueError("ASSISTANT_ACTION_TOKEN is required when ASSISTANT_ACTION_ENDPOINT is set")
        return values

    @property
    def zalo_renewal_enabled(self) -> bool:
        """The Zalo access token is renewed (refresh token and app secret set)."""
        return bool(self.zalo_enabled and self.zalo_refresh_token and self.zalo_app_secret)

    @property
    def zalo_enabled(self) -> bool:
        """Zalo OA is on only when all its secrets are set."""
        return bool(self.zalo_app_id and self.zalo_oa_secret and self.zalo_access_token)

    @property
    def messenger_enabled(self) -> bool:
        """Messenger is on only when all its secrets are set."""
        return bool(self.messenger_verify_token and self.messenger_app_secret and self.messenger_page_token)

    @validator("allowed_origins")
    def _origins_are_origins(cls, value: str) -> str:  # noqa: N805
        """Refuse an entry that is not an origin (a path, no scheme): a typo never changes CORS silently."""
        parse_origins(value)
        return value

    @validator("public_url")
    def _public_url_is_a_page(cls, value: str | None) -> str | None:  # noqa: N805
        """Refuse a public page that is not an absolute http(s) URL: a QR code must open somewhere real."""
        if value is not None:
            parts = urlsplit(value.strip())
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"not an absolute http(s) URL: {value!r}")
            return value.strip()
        return value

    @validator("desk_case_days")
    def _desk_case_days_positive(cls, value: float) -> float:  # noqa: N805
        """A desk case's code must be valid for some time."""
        if value <= 0:
            raise ValueError("must be above 0")
        return value

    @property
    def allowed_origin_list(self) -> list[str]:
        """``allowed_origins`` as normalised origins (lower case, no trailing slash)."""
        return parse_origins(self.allowed_origins)


def parse_origins(value: str) -> list[str]:
    """A comma-separated list of origins as ``scheme://host[:port]`` (``*`` allows any origin).

    Raises:
        ValueError: an entry is not an origin (it has a path, a query or no scheme).
    """
    origins: list[str] = []
    for raw in value.split(","):
        origin = raw.strip().rstrip("/").lower()
        if not origin:
            continue
        parts = urlsplit(origin)
        if origin != "*" and (
            parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query or parts.fragment
        ):
            raise ValueError(f"not an origin (scheme://host[:port]): {raw.strip()!r}")
        origins.append(origin)
    return origins


@lru_cache
def get_settings() -> Settings:
    """Return the process-wide settings, read once."""
    return Settings()
