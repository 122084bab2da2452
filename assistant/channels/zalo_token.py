"""The Zalo OA access token: renewed before it expires and when Zalo says it has expired (error -216).

Zalo access tokens live about 25 hours; refresh tokens are single-use (3 months). With
``ASSISTANT_ZALO_REFRESH_TOKEN`` and ``ASSISTANT_ZALO_APP_SECRET`` set, :class:`ZaloTokens` renews through
``POST {ASSISTANT_ZALO_OAUTH_BASE}/v4/oa/access_token`` (form ``app_id``, ``grant_type=refresh_token``,
``refresh_token``; header ``secret_key``) and keeps the rotated pair in the ``zalo_tokens`` table, shared by
every process. The environment's pair is only the seed of that row: after a restart the stored pair is used,
and the spent seed is never sent again (a *different* ``ASSISTANT_ZALO_REFRESH_TOKEN`` is a new seed).

One refresher at a time: a renewal first writes the row (a row lock on PostgreSQL, the write lock on SQLite),
then reads it; a process that waited finds the token already renewed and uses it. A refresh token that Zalo
refuses is dropped (never retried); the failure is kept in the row and shown by ``/health``.

Senders take :meth:`ZaloTokens.access_token` (no I/O) and call :meth:`ZaloTokens.renew` when Zalo answers
-216; :meth:`ZaloTokens.run` (started in the app's lifespan) renews before expiry and picks up a pair another
process renewed.

Example:
    >>> tokens = ZaloTokens(settings, db_engine)  # doctest: +SKIP
    >>> await tokens.load()
    >>> tokens.access_token()
    'Rz9…'
    >>> await tokens.renew()                       # Zalo said -216 for that token
    'Qa7…'
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from assistant.channels.common import secret
from assistant.db.models import ZaloToken
from assistant.settings import Settings

logger = logging.getLogger(__name__)

RENEW_BEFORE = timedelta(hours=1)
"""An access token is renewed when it expires within this time."""

EXPIRED_TOKEN_ERROR = -216
"""Zalo's error code for an invalid or expired access token."""

OAUTH_TIMEOUT_SECONDS = 10.0

_registry: dict[str, ZaloTokens] = {}


class TokenNotRenewed(Exception):
    """The access token could not be renewed (the reason has no secrets in it)."""


def current_tokens(settings: Settings) -> ZaloTokens | None:
    """The :class:`ZaloTokens` the app registered for this OA (None: use the configured token as it is)."""
    return _registry.get(settings.zalo_app_id or "")


def register(tokens: ZaloTokens) -> None:
    """Make ``tokens`` the ones :func:`current_tokens` returns for its OA (done in the app's lifespan)."""
    _registry[tokens.app_id] = tokens


def unregister(tokens: ZaloTokens) -> None:
    """Undo :func:`register` (app shutdown)."""
    if _registry.get(tokens.app_id) is tokens:
        del _registry[tokens.app_id]


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _aware(value: datetime | None) -> datetime | None:
    """SQLite gives naive datetimes back: they are UTC."""
    return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


class ZaloTokens:
    """The OA's current access token, renewed as needed and shared through the database.

    Args:
        settings: the Zalo settings (app id, seed pair, app secret, OAuth base URL).
        db_engine: the database holding ``zalo_tokens``.
    """

    def __init__(self, settings: Settings, db_engine: Engine) -> None:
        self.settings = settings
        self.app_id = settings.zalo_app_id or ""
        self.db_engine = db_engine
        self._lock = asyncio.Lock()
        self._access: str | None = None
        self._expires_at: datetime | None = None
        self.task: asyncio.Task[None] | None = None

    @property
    def renewable(self) -> bool:
        """Renewal is configured (refresh token and app secret)."""
        return self.settings.zalo_renewal_enabled

    def access_token(self) -> str:
        """The access token to send with now (no I/O: :meth:`load` and :meth:`run` keep it current)."""
        return self._access if self._access is not None else secret(self.settings.zalo_access_token)

    async def load(self) -> None:
        """Read the stored pair (seeding it from the environment the first time)."""
        self._access, self._expires_at = await asyncio.to_thread(self._load)

    async def renew(self, *, spent: str | None = None) -> str:
        """Renew the access token Zalo refused (once across all processes) and return the new one.

        Args:
            spent: the token Zalo refused (-216); default the one :meth:`access_token` gives. When another
                process (or task) already renewed it, its token is returned without a call to Zalo.

        Raises:
            TokenNotRenewed: renewal is not configured, Zalo refused the refresh token, or could not be reached.
        """
        spent = spent if spent is not None else self.access_token()
        async with self._lock:
            if self._access is not None and self._access != spent:
                return self._access  # renewed meanwhile in this process
            access, self._expires_at = await asyncio.to_thread(self._renew, spent)
            self._access = access
            return access

    async def renew_if_due(self) -> None:
        """Renew when the token expires within :data:`RENEW_BEFORE`; take a pair another process stored."""
        async with self._lock:
            try:
                self._access, self._expires_at = await asyncio.to_thread(self._renew, None)
            except TokenNotRenewed as e:
                logger.warning("Zalo access token expires soon and could not be renewed: %s", e)

    async def run(self, *, interval_seconds: float = 60.0) -> None:
        """Keep the token current until cancelled (the app's lifespan runs this as a task)."""
        while True:
            try:
                await self.renew_if_due()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the loop
                logger.exception("Zalo token check failed")
            await asyncio.sleep(interval_seconds)

    async def problem(self) -> str | None:
        """Why the token cannot be renewed, for ``/health``; None when it is fine."""
        return await asyncio.to_thread(self._problem)

    # --- database work (in a thread) --------------------------------------------------------------------

    def _seeded(self, session: Session) -> ZaloToken:
        """The OA's row, created from (or reset to) the environment's pair when that pair is new."""
        seed_refresh = secret(self.settings.zalo_refresh_token)
        seed_hash = _hash(seed_refresh or secret(self.settings.zalo_access_token))
        row = session.execute(select(ZaloToken).where(ZaloToken.app_id == self.app_id)).scalar_one_or_none()
        if row is None:
            row = ZaloToken(app_id=self.app_id, seed_hash=seed_hash)
            session.add(row)
        elif row.seed_hash == seed_hash:
            return row
        else:
            logger.info("a new Zalo token seed is configured: it replaces the stored pair")
            row.seed_hash = seed_hash
        row.access_token = secret(self.settings.zalo_access_token)
        row.refresh_token = seed_refresh or None
        row.expires_at = None
        row.last_error = None
        session.flush()
        return row

    def _load(self) -> tuple[str, datetime | None]:
        with Session(self.db_engine) as session, session.begin():
            row = self._seeded(session)
            return row.access_token, _aware(row.expires_at)

    def _renew(self, spent: str | None) -> tuple[str, datetime | None]:
        with Session(self.db_engine) as session, session.begin():
            # Writing first takes the row's lock (PostgreSQL) or the database's write lock (SQLite) until commit:
            # a second process renewing at the same time waits here, then finds the renewed pair.
            session.execute(
                update(ZaloToken).where(ZaloToken.app_id == self.app_id).values(updated_at=_now()),
                execution_options={"synchronize_session": False},
            )
            row = self._seeded(session)
            session.refresh(row)
            expires_at = _aware(row.expires_at)
            if spent is not None and row.access_token != spent:
                return row.access_token, expires_at  # another process renewed it
            if spent is None and (expires_at is None or expires_at - RENEW_BEFORE > _now()):
                return row.access_token, expires_at  # not due (an unknown expiry waits for Zalo's -216)
            if not self.renewable:
                row.last_error = "access token expired; ASSISTANT_ZALO_REFRESH_TOKEN or ASSISTANT_ZALO_APP_SECRET unset"
                raise_after = TokenNotRenewed(row.last_error)
            elif row.refresh_token is None:
                raise_after = TokenNotRenewed(row.last_error or "no refresh token left; configure a new seed")
            else:
                try:
                    access, refresh, lifetime = self._call_oauth(row.refresh_token)
                except _Refused as e:
                    row.refresh_token = None  # spent or invalid: never sent again
                    row.last_error = f"Zalo refused the refresh token: {e}"[:255]
                    raise_after = TokenNotRenewed(row.last_error)
                except TokenNotRenewed as e:
                    row.last_error = str(e)[:255]  # not known to be spent: tried again next time
                    raise_after = e
                else:
                    row.access_token, row.refresh_token = access, refresh
                    row.expires_at = _now() + timedelta(seconds=lifetime)
                    row.renewed_at = _now()
                    row.last_error = None
                    logger.info("Zalo access token renewed; valid for %d s", lifetime)
                    return access, row.expires_at
        logger.error("Zalo access token not renewed: %s", raise_after)
        raise raise_after

    def _call_oauth(self, refresh_token: str) -> tuple[str, str, int]:
        """One refresh call: (access token, refresh token, lifetime in seconds)."""
        url = f"{self.settings.zalo_oauth_base.rstrip('/')}/v4/oa/access_token"
        form = {"app_id": self.app_id, "grant_type": "refresh_token", "refresh_token": refresh_token}
        headers = {"secret_key": secret(self.settings.zalo_app_secret)}
        try:
            response = httpx.post(url, data=form, headers=headers, timeout=OAUTH_TIMEOUT_SECONDS)
        except httpx.HTTPError as e:
            raise TokenNotRenewed(f"Zalo OAuth unreachable ({type(e).__name__})") from e
        if response.status_code >= 500:
            raise TokenNotRenewed(f"Zalo OAuth answered HTTP {response.status_code}")
        try:
            data: Any = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise TokenNotRenewed(f"Zalo OAuth answered HTTP {response.status_code} without JSON")
        access, refresh = data.get("access_token"), data.get("refresh_token")
        if response.status_code >= 400 or not access or not refresh:
            code = data.get("error", response.status_code)
            raise _Refused(f"error {code} {str(data.get('error_name') or '')}".strip())
        try:
            lifetime = int(data.get("expires_in") or 90000)
        except (TypeError, ValueError):
            lifetime = 90000
        return str(access), str(refresh), lifetime

    def _problem(self) -> str | None:
        with Session(self.db_engine) as session:
            row = session.execute(select(ZaloToken).where(ZaloToken.app_id == self.app_id)).scalar_one_or_none()
            return row.last_error if row is not None else None


class _Refused(Exception):
    """Zalo answered the refresh call and refused it: the refresh token is spent or invalid."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


async def start(settings: Settings, db_engine: Engine) -> ZaloTokens | None:
    """Load (or seed) the Zalo token pair, register it for senders and keep it renewed; None when Zalo is off."""
    if not settings.zalo_enabled:
        return None
    tokens = ZaloTokens(settings, db_engine)
    await tokens.load()
    register(tokens)
    if tokens.renewable:
        tokens.task = asyncio.create_task(tokens.run(), name="zalo-token-renewal")
    return tokens


async def stop(tokens: ZaloTokens | None) -> None:
    """Stop what :func:`start` started."""
    if tokens is None:
        return
    unregister(tokens)
    if tokens.task is not None:
        tokens.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await tokens.task
