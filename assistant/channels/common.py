"""What the platform channels (Zalo, Messenger) share: de-duplication, text splitting, secrets, sending.

Platforms deliver a webhook event again when they do not get a quick 200; each channel answers at once,
then handles the message in a background task, and drops ids it has already seen. A send to a platform
(:mod:`assistant.channels.zalo_send`, :mod:`assistant.channels.messenger_send`) ends in :class:`Retriable` or
:class:`Refused` when it fails, which tells the outbox (:mod:`assistant.outbox`) whether to try again.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

import httpx
from fastapi import FastAPI

from assistant.settings import Settings

logger = logging.getLogger(__name__)

CHOOSE_TEXT = "Mời bạn chọn:"
"""Text sent with buttons when a reply has buttons but no text."""


def conversation_id(channel: str, user_id: str) -> str:
    """The conversation id of a channel's user: ids are namespaced, so no channel can name another's.

    Example:
        >>> conversation_id("zalo", "2468458835296117922")
        'zalo:2468458835296117922'
        >>> conversation_id("rest", "zalo:2468458835296117922")  # a REST client stays in the REST space
        'rest:zalo:2468458835296117922'
    """
    return f"{channel}:{user_id}"


def platform_user_id(sender_id: str, channel: str) -> str:
    """The platform's own user id from a conversation id (``zalo:123`` → ``123``); other ids unchanged."""
    prefix = f"{channel}:"
    return sender_id[len(prefix) :] if sender_id.startswith(prefix) else sender_id


class RecentIds:
    """Remembers the ids of recently processed platform messages, to drop redeliveries.

    Platforms redeliver an event when our answer is slow or lost, so every webhook checks the
    message id here before doing any work. Without Redis the ids live in a bounded in-memory LRU,
    which only deduplicates within one process: when several processes serve the webhooks (scale-out),
    set ``ASSISTANT_REDIS_URL`` so that they share one store (a Redis ``SET NX`` with a TTL). If Redis
    fails, the in-memory LRU is used for that call.

    Args:
        max_size: how many ids the in-memory LRU keeps.
        ttl_seconds: how long Redis keeps an id.
        redis_url: Redis to share the ids between processes, or None.
    """

    def __init__(self, *, max_size: int = 10_000, ttl_seconds: int = 24 * 3600, redis_url: str | None = None) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._max_size = max_size
        self._ttl = ttl_seconds
        self._redis: Any = None
        if redis_url:
            import redis.asyncio

            self._redis = redis.asyncio.Redis.from_url(redis_url)

    @staticmethod
    def _redis_key(key: str) -> str:
        return f"assistant:webhook-seen:{key}"

    async def first_time(self, key: str) -> bool:
        """Record ``key`` and tell whether it is new (False: already seen, skip the event).

        Example:
            >>> await seen.first_time("zalo:96d3cdf3af150460909")  # doctest: +SKIP
            True
        """
        if self._redis is not None:
            try:
                return bool(await self._redis.set(self._redis_key(key), "1", nx=True, ex=self._ttl))
            except Exception as e:  # noqa: BLE001 - a Redis outage must not stop the channel
                logger.warning("Redis deduplication failed (%s); using this process's memory", type(e).__name__)
        if key in self._ids:
            self._ids.move_to_end(key)
            return False
        self._ids[key] = None
        while len(self._ids) > self._max_size:
            self._ids.popitem(last=False)
        return True

    async def forget(self, key: str) -> None:
        """Forget ``key``, so that a redelivery of a message we could not process is processed."""
        self._ids.pop(key, None)
        if self._redis is not None:
            try:
                await self._redis.delete(self._redis_key(key))
            except Exception as e:  # noqa: BLE001 - a Redis outage must not stop the channel
                logger.warning("Redis deduplication failed (%s) while forgetting a message", type(e).__name__)


def recent_ids(app: FastAPI) -> RecentIds:
    """The app's :class:`RecentIds`, made on first use (shared by the Zalo and Messenger channels)."""
    seen = getattr(app.state, "webhook_recent_ids", None)
    if seen is None:
        settings: Settings = app.state.settings
        seen = RecentIds(redis_url=settings.redis_url)
        app.state.webhook_recent_ids = seen
    return seen


def split_text(text: str, limit: int) -> list[str]:
    """Split a reply into chunks of at most ``limit`` characters, at line breaks or spaces when possible.

    Example:
        >>> split_text("Bước 1: ...\\nBước 2: ...", 12)
        ['Bước 1: ...', 'Bước 2: ...']
    """
    chunks: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit + 1)
        if cut <= 0:
            cut = limit
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        chunks.append(rest)
    return chunks


def button_choices(buttons: list[dict[str, str]], *, max_payload: int) -> list[tuple[str, str]]:
    """(title, payload) of each button a platform can carry: both non-empty, the payload at most ``max_payload`` long.

    A button without a payload sends its title.

    Example:
        >>> button_choices([{"title": "Tiếp theo", "payload": "/next_step"}, {"title": " "}], max_payload=1000)
        [('Tiếp theo', '/next_step')]
    """
    choices = []
    for button in buttons:
        title = str(button.get("title") or "").strip()
        payload = str(button.get("payload") or title).strip()
        if title and payload and len(payload) <= max_payload:
            choices.append((title, payload))
    return choices


def as_object(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (platform bodies are not trusted)."""
    return value if isinstance(value, dict) else {}


def secret(value: Any) -> str:
    """The plain value of a ``SecretStr`` (or str) setting; empty when unset."""
    if value is None:
        return ""
    return value.get_secret_value() if hasattr(value, "get_secret_value") else str(value)


class Retriable(Exception):
    """A send that may succeed if tried again (timeout, connection error, 5xx, Zalo's expired token)."""


class Refused(Exception):
    """A send the platform refused for good (4xx, platform error code): never retried."""


async def post_to_platform(client: httpx.AsyncClient, url: str, **kwargs: Any) -> httpx.Response:
    """POST; a timeout, a connection error or a 5xx is :class:`Retriable`, another 4xx :class:`Refused`."""
    try:
        response = await client.post(url, **kwargs)
    except httpx.HTTPError as e:
        raise Retriable(type(e).__name__) from e
    if response.status_code >= 500:
        raise Retriable(f"HTTP {response.status_code}")
    if response.status_code >= 400:
        raise Refused(f"HTTP {response.status_code}")
    return response
