"""A citizen's data through a real server: "xóa dữ liệu của tôi" deletes it after a confirmation, and a conversation
idle longer than ASSISTANT_SESSION_EXPIRATION_MINUTES starts a new Rasa session that keeps what it knew.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.live import LiveServer

pytestmark = pytest.mark.slow
#: Short enough to wait out in a test, long enough for a few turns in a row on a busy machine.
EXPIRATION_MINUTES = 0.25


class ExpiringServer(LiveServer):
    def env(self) -> dict[str, str]:
        env = super().env()
        env["ASSISTANT_SESSION_EXPIRATION_MINUTES"] = str(EXPIRATION_MINUTES)
        return env


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExpiringServer]:
    folder = tmp_path_factory.mktemp("privacy")
    live = ExpiringServer(database_url=f"sqlite:///{folder / 'assistant.db'}", log=folder / "server.log")
    live.start()
    yield live
    live.stop()


def query(server: LiveServer, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(server.database_url.removeprefix("sqlite:///")) as db:
        return db.execute(sql, params).fetchall()


def kept(server: LiveServer, sender: str) -> dict[str, int]:
    """How many rows each table keeps about the conversation ``rest:<sender>``."""
    conversation = f"rest:{sender}"
    return {
        table: query(server, f"select count(*) from {table} where sender_id = ?", conversation)[0][0]  # noqa: S608
        for table in ("events", "feedback", "handoffs")
    }


def procedure_of(replies: list[dict]) -> str | None:
    return next((r["custom"]["procedure"] for r in replies if (r.get("custom") or {}).get("procedure")), None)


def start_conversation(server: LiveServer, sender: str) -> None:
    """A conversation with a question, a rating (feedback row) and an old hand-off (handoffs row)."""
    assert procedure_of(server.say(sender, "làm hộ chiếu hết bao nhiêu tiền")) == "ho-chieu"
    server.say(sender, server.payload("rate", rating="5"))
    with sqlite3.connect(server.database_url.removeprefix("sqlite:///")) as db:
        db.execute(
            "insert into handoffs (sender_id, channel, answers, summary, last_messages, status, created_at, updated_at,"
            " mode, closed_reason) values (?, 'rest', '{}', '', '[]', 'closed', '2026-12-01', '2026-12-01', 'chat',"
            " 'staff')",
            (f"rest:{sender}",),
        )
    counts = kept(server, sender)
    assert counts["events"] > 0 and counts["feedback"] == 1 and counts["handoffs"] == 1, counts


@pytest.mark.parametrize("confirm", ["button", "typed yes"])
def test_delete_my_data_asks_then_deletes_everything_kept(server: LiveServer, confirm: str) -> None:
    sender = f"privacy-{uuid.uuid4().hex[:6]}"
    bystander = f"privacy-other-{uuid.uuid4().hex[:6]}"
    start_conversation(server, sender)
    start_conversation(server, bystander)

    asked = server.say(sender, "xóa dữ liệu của tôi")
    assert "không khôi phục được" in server.texts(asked)
    assert server.buttons(asked) == ["Xóa dữ liệu của tôi", "Không, giữ lại"]
    assert kept(server, sender)["feedback"] == 1  # nothing deleted before the citizen confirms

    answer = "/confirm_delete_my_data" if confirm == "button" else "có"
    done = server.say(sender, answer)
    assert "Đã xóa" in server.texts(done)
    assert kept(server, sender) == {"events": 0, "feedback": 0, "handoffs": 0}
    assert kept(server, bystander)["feedback"] == 1 and kept(server, bystander)["handoffs"] == 1

    # the next message starts a new conversation that knows nothing of the deleted one
    fresh = server.say(sender, "cần giấy tờ gì")
    assert procedure_of(fresh) is None
    assert kept(server, sender)["feedback"] == 0


def test_delete_my_data_declined_keeps_everything(server: LiveServer) -> None:
    sender = f"privacy-keep-{uuid.uuid4().hex[:6]}"
    start_conversation(server, sender)
    server.say(sender, "xoa du lieu cua toi")
    before = kept(server, sender)
    kept_reply = server.say(sender, "/deny")
    assert "vẫn được giữ nguyên" in server.texts(kept_reply)
    after = kept(server, sender)
    assert after["feedback"] == 1 and after["handoffs"] == 1 and after["events"] > before["events"]
    # still the same conversation: a follow-up is about the passport
    assert procedure_of(server.say(sender, "cần giấy tờ gì")) == "ho-chieu"


def test_idle_conversation_starts_a_new_session_with_slots_carried_over(server: LiveServer) -> None:
    sender = f"idle-{uuid.uuid4().hex[:6]}"
    conversation = f"rest:{sender}"
    sessions = "select count(*) from events where sender_id = ? and type_name = 'session_started'"
    assert procedure_of(server.say(sender, "làm hộ chiếu hết bao nhiêu tiền")) == "ho-chieu"
    assert procedure_of(server.say(sender, "cần giấy tờ gì")) == "ho-chieu"
    assert query(server, sessions, conversation) == [(1,)]  # two turns in a row: one session

    time.sleep(EXPIRATION_MINUTES * 60 + 2)
    replies = server.say(sender, "nộp ở đâu")
    assert query(server, sessions, conversation) == [(2,)]  # idle too long: a new session
    assert procedure_of(replies) == "ho-chieu"  # what the conversation was about is carried over


def test_purge_while_the_server_runs_forgets_the_conversation(server: LiveServer) -> None:
    sender = f"purged-{uuid.uuid4().hex[:6]}"
    assert procedure_of(server.say(sender, "làm hộ chiếu hết bao nhiêu tiền")) == "ho-chieu"
    with sqlite3.connect(server.database_url.removeprefix("sqlite:///")) as db:  # as if it were 100 days old
        db.execute("update events set timestamp = timestamp - 100 * 86400 where sender_id = ?", (f"rest:{sender}",))
    purged = server.cli("purge", "--older-than", "90d")
    assert purged.returncode == 0, purged.stderr
    assert kept(server, sender)["events"] == 0
    # the running server does not bring the purged conversation back (no tracker kept in memory survives it)
    assert procedure_of(server.say(sender, "cần giấy tờ gì")) is None
