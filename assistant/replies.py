"""What a conversation turn hands back to the channels: :class:`Reply`, one bot message, channel-neutral.

Channels render replies for their platform (the REST JSON, the widget, Zalo and Messenger messages); they never
see Rasa's own output. :func:`replies_of` makes replies from what Rasa collected in a turn, :func:`replies_from`
from our own messages (hand-off notices and prompts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Reply", "replies_from", "replies_of"]


@dataclass
class Reply:
    """One bot message, channel-neutral."""

    recipient_id: str
    text: str | None = None
    buttons: list[dict[str, str]] = field(default_factory=list)
    custom: dict[str, Any] | None = None

    def as_rest(self) -> dict[str, Any]:
        """The REST channel's JSON shape (Rasa's ``/webhooks/rest/webhook``)."""
        out: dict[str, Any] = {"recipient_id": self.recipient_id}
        if self.text is not None:
            out["text"] = self.text
        if self.buttons:
            out["buttons"] = self.buttons
        if self.custom is not None:
            out["custom"] = self.custom
        return out


def replies_from(sender_id: str, messages: list[dict[str, Any]]) -> list[Reply]:
    """Our own messages (``{"text", "buttons"?}``) as replies."""
    return [Reply(recipient_id=sender_id, text=m.get("text"), buttons=list(m.get("buttons") or [])) for m in messages]


def replies_of(messages: list[dict[str, Any]], sender_id: str) -> list[Reply]:
    """Rasa's collected output as replies, each message's answer metadata on the message itself.

    Rasa sends a message's ``custom`` payload as a message of its own right after the text; it is put back
    on the text it belongs to, so channels that show only text never see an empty bubble.
    """
    replies: list[Reply] = []
    for m in messages:
        custom = m.get("custom")
        if custom is not None and m.get("text") is None and not m.get("buttons") and replies and replies[-1].custom is None:
            replies[-1].custom = custom
            continue
        replies.append(
            Reply(
                recipient_id=m.get("recipient_id", sender_id),
                text=m.get("text"),
                buttons=list(m.get("buttons") or []),
                custom=custom,
            )
        )
    return replies
