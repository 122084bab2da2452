"""How an officer's reply reaches the citizen: written into the conversation, and for Zalo and Messenger sent too.

Every reply is written into the conversation (a bot message marked ``from_staff``), which is where the web
widget finds it; for Zalo and Messenger it is also sent through the outbox (:mod:`assistant.outbox`, retried,
delivered once), prefixed "Cán bộ: " as the widget shows it. When that channel is not configured or the platform
refuses the message, the reply stays in the transcript, marked not delivered, and the officer is told so; when the
platform is only failing for now, the officer is told it will be sent again automatically.
"""

from __future__ import annotations

import logging
from typing import Any

from assistant.replies import Reply
from assistant.settings import Settings

__all__ = [
    "PLATFORM_CHANNELS",
    "REPLY_CHANNELS",
    "STAFF_PREFIX",
    "deliver_staff_reply",
    "reply_delivery",
    "send_staff_reply",
]

logger = logging.getLogger(__name__)

#: Channels whose citizen sees staff replies (the web widget polls for them).
REPLY_CHANNELS = {"rest", "web"}
#: Channels whose staff replies go out through a platform's send API: channel name → platform.
PLATFORM_CHANNELS = {"zalo": "zalo", "messenger": "messenger", "facebook": "messenger"}
#: Put before a staff reply sent to a platform, as the web widget shows it, so the citizen knows a person writes.
STAFF_PREFIX = "Cán bộ: "


def reply_delivery(settings: Settings, channel: str) -> str:
    """How an officer's reply reaches a citizen of ``channel``.

    Returns:
        ``"widget"`` (the web widget polls for it), ``"platform"`` (sent through Zalo's or Messenger's API),
        ``"channel_off"`` (a Zalo or Messenger conversation, but that channel's secrets are unset) or
        ``"none"`` (a channel we cannot reach: the reply is only stored).
    """
    if channel in REPLY_CHANNELS:
        return "widget"
    platform = PLATFORM_CHANNELS.get(channel)
    if platform is None:
        return "none"
    enabled = settings.zalo_enabled if platform == "zalo" else settings.messenger_enabled
    return "platform" if enabled else "channel_off"


async def deliver_staff_reply(app: Any, channel: str, user_id: str, text: str) -> str:
    """Send an officer's reply to a Zalo or Messenger citizen, prefixed "Cán bộ: " as the widget shows it.

    It goes through the outbox like the bot's own replies (:func:`assistant.outbox.send_replies`): stored, sent
    with retries on timeouts and 5xx, and, when the platform is still failing, kept and delivered once by the
    background worker when it recovers.

    Args:
        app: the application (its settings, database and Zalo tokens).
        channel: the hand-off's channel (``zalo``, ``messenger``).
        user_id: the platform's user id, or the conversation id (``zalo:<id>``).
        text: the officer's reply, without the prefix.

    Returns:
        ``"done"`` (the platform accepted it), ``"pending"`` (not yet: sent again automatically) or ``"failed"``
        (refused for good, the channel is off, or it could not be stored). Never raises; logs carry no token.

    Example:
        >>> await deliver_staff_reply(app, "zalo", "2468458835296117922", "Chào anh")  # doctest: +SKIP
        'done'  # the citizen reads "Cán bộ: Chào anh" in Zalo
    """
    from assistant.outbox import send_replies

    if reply_delivery(app.state.settings, channel) != "platform":
        return "failed"
    replies = [Reply(recipient_id=user_id, text=STAFF_PREFIX + text)]
    try:
        return await send_replies(app, PLATFORM_CHANNELS[channel], user_id, replies)
    except Exception as e:  # noqa: BLE001 - the officer gets a message, never a 500; no URL (token) in the log
        logger.warning("staff reply via %s to %s failed: %s", channel, user_id, type(e).__name__)
        return "failed"


async def send_staff_reply(
    conversations: Any, sender_id: str, text: str, *, staff: str, delivered: bool | None = None
) -> float:
    """Write an officer's reply into the conversation, as a bot message marked ``from_staff``.

    Args:
        conversations: the :class:`~assistant.engine.ConversationEngine`.
        sender_id: the conversation.
        text: the reply.
        staff: the officer's username (stored in the event's metadata).
        delivered: for a platform channel, whether the platform accepted the reply (stored in the metadata,
            shown in the transcript); None for the web widget, which reads the reply from the conversation.

    Returns:
        The event's timestamp.
    """
    metadata: dict[str, Any] = {"from_staff": staff}
    if delivered is not None:
        metadata["delivered"] = delivered
    return float(await conversations.add_staff_message(sender_id, text, metadata=metadata))
