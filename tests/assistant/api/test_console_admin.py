"""Tests of officer roles, the admin page and the audit log (assistant/api/routes/console/admin.py,
assistant/audit.py), the queue's status poll and the downloads (transcript, analytics CSV)."""

from fastapi.testclient import TestClient

from assistant.api.routes.console.pages import waited
from assistant.staff import add_staff_user
from tests.assistant.api import test_console as console_tests
from tests.assistant.api.test_console import PASSWORD, USERNAME, add_handoff, csrf_of
from tests.staff_login import staff_login

# the console's fixtures (an SQLite file with the real records and one officer; a client; a logged-in client)
database_url = console_tests.database_url
client = console_tests.client
staff_client = console_tests.staff_client

ADMIN = "quantri"


def log_in(client: TestClient, username: str, password: str = PASSWORD) -> int:
    client.cookies.clear()
    return staff_login(client, username, password).status_code


def test_console_admin_page_only_for_admins(staff_client: TestClient) -> None:
    assert staff_client.get("/staff/admin").status_code == 403
    assert "/staff/admin" not in staff_client.get("/staff").text


def test_console_admin_adds_then_disables_an_officer(client: TestClient, database_url: str) -> None:
    add_staff_user(database_url, ADMIN, PASSWORD, role="admin")
    assert log_in(client, ADMIN) == 303
    page = client.get("/staff/admin")
    assert page.status_code == 200 and USERNAME in page.text
    token = csrf_of(client, "/staff/admin")
    added = client.post(
        "/staff/admin/officers", data={"csrf": token, "username": "canbo2", "password": "mat-khau-moi-2", "role": "officer"}
    )
    assert added.status_code == 303
    assert client.post("/staff/admin/officers/canbo2/disable", data={"csrf": token}).status_code == 303
    log = client.get("/staff/admin").text
    assert "Thêm tài khoản" in log and "Khóa tài khoản" in log and "canbo2" in log
    assert log_in(client, "canbo2", "mat-khau-moi-2") == 401


def test_console_admin_refuses_bad_input_and_forged_forms(client: TestClient, database_url: str) -> None:
    add_staff_user(database_url, ADMIN, PASSWORD, role="admin")
    log_in(client, ADMIN)
    token = csrf_of(client, "/staff/admin")
    short = client.post("/staff/admin/officers", data={"csrf": token, "username": "x", "password": "ngan", "role": "officer"})
    assert short.status_code == 422
    role = client.post(
        "/staff/admin/officers", data={"csrf": token, "username": "x", "password": "du-dai-roi-nhe", "role": "root"}
    )
    assert role.status_code == 422
    assert client.post("/staff/admin/officers/canbo1/disable", data={"csrf": "forged"}).status_code == 403
    assert client.post(f"/staff/admin/officers/{ADMIN}/disable", data={"csrf": token}).status_code == 409


def test_console_disabled_officer_session_ends(staff_client: TestClient, database_url: str) -> None:
    from assistant.staff import set_disabled

    assert staff_client.get("/staff").status_code == 200
    set_disabled(staff_client.app.state.db_engine, USERNAME, True)
    assert staff_client.get("/staff").status_code == 303


def test_console_claim_and_close_are_in_the_audit_log(staff_client: TestClient, database_url: str) -> None:
    handoff_id = add_handoff(staff_client)
    token = csrf_of(staff_client)
    staff_client.post(f"/staff/handoffs/{handoff_id}/claim", data={"csrf": token})
    staff_client.post(f"/staff/handoffs/{handoff_id}/close", data={"csrf": token})
    page = staff_client.get(f"/staff/handoffs/{handoff_id}").text
    assert "Nhận xử lý" in page and "Trả lại trợ lý ảo" in page
    add_staff_user(database_url, ADMIN, PASSWORD, role="admin")
    log_in(staff_client, ADMIN)
    log = staff_client.get("/staff/admin").text
    assert f"#{handoff_id}" in log and USERNAME in log


def test_console_queue_status_and_waiting_time(staff_client: TestClient) -> None:
    assert staff_client.get("/staff/queue/status").json() == {"waiting": 0, "active": 0, "newest": 0}
    first = add_handoff(staff_client)
    second = add_handoff(staff_client, status="claimed", assigned_to=USERNAME)
    assert staff_client.get("/staff/queue/status").json() == {"waiting": 1, "active": 2, "newest": first}
    assert second > first
    page = staff_client.get("/staff").text
    assert "Đã chờ" in page and "0 phút" in page and "/staff/queue/status" in page


def test_console_waited_reads_minutes_hours_days() -> None:
    from datetime import datetime, timedelta, timezone

    now = datetime(2026, 12, 1, 8, 0, tzinfo=timezone.utc)
    assert waited(now - timedelta(minutes=5), now) == "5 phút"
    assert waited((now - timedelta(minutes=80)).replace(tzinfo=None), now) == "1 giờ 20 phút"
    assert waited(now - timedelta(days=2), now) == "2 ngày"


def test_console_transcript_download(staff_client: TestClient) -> None:
    handoff_id = add_handoff(staff_client)
    response = staff_client.get(f"/staff/handoffs/{handoff_id}/transcript.txt")
    assert response.status_code == 200
    assert f'filename="hand-off-{handoff_id}.txt"' in response.headers["content-disposition"]
    assert "Người dân: tôi bị mất hộ chiếu" in response.text
    assert staff_client.get("/staff/handoffs/99999/transcript.txt").status_code == 404


def test_console_analytics_csv(staff_client: TestClient) -> None:
    add_handoff(staff_client)
    response = staff_client.get("/staff/analytics.csv")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    lines = response.text.lstrip("\ufeff").splitlines()
    assert lines[0] == "section,procedure_key,procedure,measure,value"
    assert "handoffs,,,open,1" in lines
    assert any(line.startswith("handoffs_by_procedure,ho-chieu,") and line.endswith(",total,1") for line in lines)
