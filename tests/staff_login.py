"""The one way tests log an officer in: the log-in page first (its anti-forgery cookie and field), then the form.

Works with FastAPI's ``TestClient`` and with an ``httpx.Client`` on a live server (``base_url`` set, no redirects
followed); both keep the log-in cookie between the two requests, as a browser does.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

LOGIN_FIELD = re.compile(r'name="login_csrf" value="([^"]+)"')


def login_token(client: httpx.Client, **headers: str) -> str:
    """The hidden field of a fresh log-in page (a client already logged in gets the form after dropping its session)."""
    page = client.get("/staff/login", headers=headers)
    if page.status_code == 303:
        client.cookies.delete("assistant_staff")
        page = client.get("/staff/login", headers=headers)
    match = LOGIN_FIELD.search(page.text)
    assert page.status_code == 200 and match, f"no log-in form: {page.status_code} {page.text[:300]}"
    nonce = page.cookies.get("assistant_login")
    if nonce:  # sent back as a browser on https would (a Secure cookie is otherwise kept from a test's plain http)
        client.cookies.set("assistant_login", nonce, path="/staff/login")
    return match.group(1)


def staff_login(
    client: httpx.Client, username: str, password: str, *, next_url: str | None = None, **headers: str
) -> httpx.Response:
    """Post the log-in form as a browser would; the response (303 in, 401 wrong, 429 throttled)."""
    data: dict[str, Any] = {"username": username, "password": password, "login_csrf": login_token(client, **headers)}
    if next_url is not None:
        data["next"] = next_url
    return client.post("/staff/login", data=data, headers=headers)
