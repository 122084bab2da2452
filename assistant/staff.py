"""Staff accounts of the one-stop-desk console: password hashes, log-in and signed session cookies.

Passwords are stored as ``pbkdf2_sha256$<iterations>$<salt>$<hash>`` (PBKDF2-HMAC-SHA256, a random
16-byte salt per user), so the iteration count can be raised later without breaking stored hashes.
Accounts are made with ``assistant staff add <username>`` (:func:`add_staff_user`).

A logged-in officer carries a session cookie signed with HMAC-SHA256 under ``settings.session_secret``
(:class:`SessionSigner`). Without that secret a random key is made once per process, so sessions end when
the server restarts (and do not work across several worker processes).

Example:
    >>> encoded = hash_password("mat-khau-du-dai")
    >>> verify_password("mat-khau-du-dai", encoded)
    True
    >>> signer = SessionSigner(b"k" * 32)
    >>> signer.unsign(signer.sign("canbo1", fingerprint="ab"), max_age=3600).username
    'canbo1'
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.engine import Engine

from assistant.db.models import StaffUser
from assistant.db.session import make_engine, session_scope
from assistant.errors import AssistantError
from assistant.settings import Settings

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "PBKDF2_ITERATIONS",
    "InvalidStaffUser",
    "PasswordTooShort",
    "ROLES",
    "SessionData",
    "SessionSigner",
    "add_staff_user",
    "authenticate",
    "find_staff_user",
    "hash_password",
    "list_staff_users",
    "password_fingerprint",
    "save_staff_user",
    "session_signer",
    "set_disabled",
    "verify_password",
]

logger = logging.getLogger(__name__)

#: PBKDF2-HMAC-SHA256 rounds for new hashes (OWASP 2023: 600 000; about 0.15 s on a 2-core desk server).
PBKDF2_ITERATIONS = 600_000
MIN_PASSWORD_LENGTH = 8
#: ``officer``: the desk; ``admin``: the desk, and adds and disables officers.
ROLES = ("officer", "admin")
MAX_PASSWORD_LENGTH = 1024
MAX_USERNAME_LENGTH = 150
_SCHEME = "pbkdf2_sha256"
_SALT_BYTES = 16

# Checked against when the username is unknown, so that both cases take the same time.
_DUMMY_HASH: str | None = None
_process_key: bytes | None = None
_process_key_lock = threading.Lock()


class PasswordTooShort(AssistantError):
    """A staff password is shorter than :data:`MIN_PASSWORD_LENGTH` characters."""

    def __init__(self) -> None:
        super().__init__(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")


class InvalidStaffUser(AssistantError):
    """A staff username is empty, too long, or contains spaces or control characters."""


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_password(password: str, *, iterations: int = PBKDF2_ITERATIONS, salt: bytes | None = None) -> str:
    """Hash a password for storage.

    Args:
        password: the plain password.
        iterations: PBKDF2 rounds.
        salt: the salt (default: 16 random bytes; pass one only in tests).

    Returns:
        ``pbkdf2_sha256$<iterations>$<salt>$<hash>`` with base64url salt and hash.
    """
    salt = salt if salt is not None else secrets.token_bytes(_SALT_BYTES)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations)
    return f"{_SCHEME}${iterations}${_b64encode(salt)}${_b64encode(digest)}"


def verify_password(password: str, encoded: str) -> bool:
    """Check a password against a stored hash, in constant time.

    Args:
        password: what the officer typed.
        encoded: the stored :func:`hash_password` string.

    Returns:
        True when they match; False for a wrong password or a malformed hash.
    """
    try:
        scheme, rounds, salt, expected = encoded.split("$")
        iterations = int(rounds)
        if scheme != _SCHEME or not 1 <= iterations <= 10_000_000:
            return False
        digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), _b64decode(salt), iterations)
        return hmac.compare_digest(digest, _b64decode(expected))
    except (ValueError, TypeError):
        logger.warning("a stored staff password hash is malformed")
        return False


def password_fingerprint(encoded: str) -> str:
    """A short tag of a stored hash, put in sessions so that resetting a password ends them."""
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:16]


def _check_username(username: str) -> str:
    name = username.strip()
    if not name or len(name) > MAX_USERNAME_LENGTH:
        raise InvalidStaffUser(f"a username has 1 to {MAX_USERNAME_LENGTH} characters")
    if any(ch.isspace() or not ch.isprintable() for ch in name):
        raise InvalidStaffUser("a username may not contain spaces or control characters")
    return name


def add_staff_user(database_url: str, username: str, password: str, *, role: str | None = None) -> bool:
    """Create a staff account, or reset its password when it exists (``assistant staff add``).

    The database is migrated first, so this works on a fresh install.

    Args:
        database_url: the SQLAlchemy URL of the app's database.
        username: the login name (no spaces).
        password: the new password, at least :data:`MIN_PASSWORD_LENGTH` characters.
        role: ``officer`` or ``admin``; None keeps an existing account's role (a new one is an officer).

    Returns:
        True when the account was created, False when its password was reset.

    Raises:
        PasswordTooShort: for a password under :data:`MIN_PASSWORD_LENGTH` characters.
        InvalidStaffUser: for an empty or malformed username, or an unknown role.
    """
    from assistant.db.migrate import upgrade

    engine = make_engine(database_url)
    try:
        upgrade(engine)
        return save_staff_user(engine, username, password, role=role)
    finally:
        engine.dispose()


def save_staff_user(db_engine: Engine, username: str, password: str, *, role: str | None = None) -> bool:
    """Create an account or reset its password (and role, when given); a reset account is enabled again.

    Returns:
        True when the account was created, False when it existed.

    Raises:
        PasswordTooShort: for a password under :data:`MIN_PASSWORD_LENGTH` characters.
        InvalidStaffUser: for an empty or malformed username, or an unknown role.
    """
    name = _check_username(username)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordTooShort()
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidStaffUser(f"the password may have at most {MAX_PASSWORD_LENGTH} characters")
    if role is not None and role not in ROLES:
        raise InvalidStaffUser(f"a role is one of {', '.join(ROLES)}")
    encoded = hash_password(password)
    with session_scope(db_engine) as session:
        user = session.execute(select(StaffUser).where(StaffUser.username == name)).scalar_one_or_none()
        created = user is None
        if user is None:
            session.add(StaffUser(username=name, password_hash=encoded, role=role or "officer", disabled=False))
        else:
            user.password_hash = encoded
            user.disabled = False
            if role is not None:
                user.role = role
    logger.info("staff user %s %s", name, "created" if created else "password reset")
    return created


def list_staff_users(db_engine: Engine) -> list[StaffUser]:
    """Every staff account, by username (detached)."""
    with session_scope(db_engine) as session:
        users = list(session.execute(select(StaffUser).order_by(StaffUser.username)).scalars())
        session.expunge_all()
    return users


def set_disabled(db_engine: Engine, username: str, disabled: bool) -> bool:
    """Disable (cannot log in, sessions end) or enable an account; False when there is no such account."""
    with session_scope(db_engine) as session:
        user = session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
        if user is None:
            return False
        user.disabled = disabled
    logger.info("staff user %s %s", username, "disabled" if disabled else "enabled")
    return True


def find_staff_user(engine: Engine, username: str) -> StaffUser | None:
    """The staff account named ``username``, or None."""
    with session_scope(engine) as session:
        user = session.execute(select(StaffUser).where(StaffUser.username == username)).scalar_one_or_none()
        if user is not None:
            session.expunge(user)
        return user


def authenticate(engine: Engine, username: str, password: str) -> StaffUser | None:
    """Check a log-in.

    An unknown username costs the same time as a wrong password, so the two cannot be told apart.

    Args:
        engine: the app's database.
        username: what the officer typed as username.
        password: what the officer typed as password.

    Returns:
        The account, or None for an unknown user or a wrong password.
    """
    global _DUMMY_HASH
    name = username.strip()
    user = find_staff_user(engine, name) if 0 < len(name) <= MAX_USERNAME_LENGTH else None
    if len(password) > MAX_PASSWORD_LENGTH:
        return None
    if user is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = hash_password(secrets.token_urlsafe(16))
        verify_password(password, _DUMMY_HASH)
        logger.info("staff log-in refused")
        return None
    if not verify_password(password, user.password_hash):
        logger.info("staff log-in refused for %s", name)
        return None
    if user.disabled:
        logger.info("staff log-in refused for %s: the account is disabled", name)
        return None
    logger.info("staff user %s logged in", name)
    return user


@dataclass(frozen=True)
class SessionData:
    """What a valid session cookie says."""

    username: str
    fingerprint: str
    issued_at: float


class SessionSigner:
    """Signs and checks session cookies: ``base64url(JSON payload).base64url(HMAC-SHA256)``.

    Args:
        secret: the signing key (from ``settings.session_secret`` or :func:`session_signer`).
    """

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise AssistantError("the session secret is empty")
        # Derived keys, so the raw secret is never used for two purposes.
        self._session_key = hmac.new(secret, b"assistant staff session", hashlib.sha256).digest()
        self._csrf_key = hmac.new(secret, b"assistant staff csrf", hashlib.sha256).digest()

    def _mac(self, payload: str) -> str:
        return _b64encode(hmac.new(self._session_key, payload.encode("ascii"), hashlib.sha256).digest())

    def sign(self, username: str, *, fingerprint: str, now: float | None = None) -> str:
        """Make a session token for ``username``.

        Args:
            username: the logged-in officer.
            fingerprint: :func:`password_fingerprint` of the account's hash.
            now: the issue time (default: now).
        """
        body = {"u": username, "f": fingerprint, "t": round(now if now is not None else time.time(), 3)}
        payload = _b64encode(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
        return f"{payload}.{self._mac(payload)}"

    def unsign(self, token: str, *, max_age: float, now: float | None = None) -> SessionData | None:
        """Check a session token.

        Args:
            token: the cookie value.
            max_age: seconds a session lasts.
            now: the current time (default: now).

        Returns:
            The session, or None when the token is forged, malformed or expired.
        """
        try:
            payload, mac = token.split(".")
            if not hmac.compare_digest(mac.encode("ascii"), self._mac(payload).encode("ascii")):
                return None
            body = json.loads(_b64decode(payload))
            data = SessionData(username=str(body["u"]), fingerprint=str(body["f"]), issued_at=float(body["t"]))
        except (ValueError, KeyError, TypeError, UnicodeError):
            return None
        current = now if now is not None else time.time()
        if not data.issued_at - 60 <= current <= data.issued_at + max_age:
            return None
        return data

    def csrf_token(self, session_token: str) -> str:
        """The anti-forgery token that the console's forms carry for this session."""
        return _b64encode(hmac.new(self._csrf_key, session_token.encode("ascii"), hashlib.sha256).digest())[:32]

    def check_csrf(self, session_token: str, token: str) -> bool:
        """True when ``token`` is this session's anti-forgery token."""
        return hmac.compare_digest(self.csrf_token(session_token).encode("ascii"), token.encode("ascii", "replace"))

    def login_token(self, nonce: str) -> str:
        """The log-in form's anti-forgery token for the browser's log-in cookie ``nonce`` (double submit, signed)."""
        return _b64encode(hmac.new(self._csrf_key, b"login:" + nonce.encode("ascii"), hashlib.sha256).digest())[:32]

    def check_login_token(self, nonce: str, token: str) -> bool:
        """True when the posted log-in form's ``token`` belongs with the browser's log-in cookie ``nonce``."""
        if not nonce or not token:
            return False
        return hmac.compare_digest(self.login_token(nonce).encode("ascii"), token.encode("ascii", "replace"))


def session_signer(settings: Settings) -> SessionSigner:
    """The signer for ``settings``: keyed by ``session_secret``, else by a random key of this process.

    Args:
        settings: the app's settings.
    """
    global _process_key
    if settings.session_secret is not None:
        secret = settings.session_secret.get_secret_value().encode("utf-8")
        if len(secret) < 32:
            logger.warning("ASSISTANT_SESSION_SECRET is short: use at least 32 random characters")
        return SessionSigner(secret)
    with _process_key_lock:
        if _process_key is None:
            _process_key = secrets.token_bytes(32)
            logger.warning(
                "ASSISTANT_SESSION_SECRET is not set: staff sessions use a random key and end when the "
                "server restarts (set it when running several processes)"
            )
        return SessionSigner(_process_key)
