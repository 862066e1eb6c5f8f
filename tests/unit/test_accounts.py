"""Accounts and access: every route declares who may call it, and the server enforces it."""
from __future__ import annotations

import re

import pytest

from accounts.models import Role
from tests.conftest import PASSWORD, make_user

# Public on purpose; downloads.download: the signed, short-lived link in its URL is the credential.
OPEN = {"static", "accounts.login", "accounts_api.create_token", "system_api.health", "index", "downloads.download",
        "i18n.choose_language", "metrics.metrics"}
# i18n.choose_language: visitors pick a language before signing in; metrics.metrics checks its
# callers itself (loopback, or an admin's credentials).


def test_every_route_declares_its_audience(app):
    undeclared = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        public = getattr(view, "qianling_public", False)
        roles = getattr(view, "qianling_roles", None)
        if rule.endpoint == "static":
            continue
        if not (public or roles):
            undeclared.append(rule.endpoint)
        if public:
            assert rule.endpoint in OPEN, f"{rule.endpoint} is public but not on the reviewed list"
    assert undeclared == []


def test_passwords_are_hashed_with_argon2id(session):
    user = make_user(session)
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_token_from_basic_credentials_then_bearer_access(app, session):
    user = make_user(session, Role.MANAGER)
    client = app.test_client()
    wrong = client.post("/api/accounts/tokens", auth=(user.username, "nope-nope"))
    assert wrong.status_code == 401 and wrong.json["error"] == "unauthenticated"
    reply = client.post("/api/accounts/tokens", auth=(user.username, PASSWORD))
    assert reply.status_code == 201
    token = reply.json["token"]
    me = client.get("/api/accounts/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json["role"] == "manager"
    bad = client.get("/api/accounts/me", headers={"Authorization": "Bearer qlt_forged"})
    assert bad.status_code == 401


def test_api_without_credentials_is_401_json(app):
    reply = app.test_client().get("/api/projects")
    assert reply.status_code == 401
    assert reply.json["error"] == "unauthenticated"


def test_wrong_role_is_403_and_unknown_id_is_404(api_as):
    _, annotator = api_as(Role.ANNOTATOR)
    assert annotator.get("/api/projects").status_code == 403
    assert annotator.get("/api/accounts/users").status_code == 403
    _, manager = api_as(Role.MANAGER)
    missing = manager.get("/api/projects/999999")
    assert missing.status_code == 404 and "999999" in missing.json["message"]
    assert manager.get("/api/jobs/424242").status_code == 404


def test_inactive_user_cannot_use_token(api_as, session):
    user, api = api_as(Role.MANAGER)
    user.is_active = False
    session.commit()
    assert api.get("/api/accounts/me").status_code == 401


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_web_login_needs_csrf_and_sets_session(app, session):
    user = make_user(session, Role.BUYER)
    client = app.test_client()
    forged = client.post("/accounts/login", data={"username": user.username, "password": PASSWORD})
    assert forged.status_code == 400
    token = _csrf(client.get("/accounts/login").get_data(as_text=True))
    wrong = client.post("/accounts/login", data={"username": user.username, "password": "x" * 9,
                                                  "csrf_token": token})
    assert wrong.status_code == 401 and "Wrong username or password" in wrong.get_data(as_text=True)
    ok = client.post("/accounts/login", data={"username": user.username, "password": PASSWORD,
                                               "csrf_token": token})
    assert ok.status_code == 302
    home = client.get("/home")
    assert home.status_code == 200 and user.display_name in home.get_data(as_text=True)
    # A session-authenticated unsafe API call without the CSRF token is refused.
    assert client.post("/api/exports", json={"project_id": 1}).status_code == 400


def test_pages_redirect_anonymous_users_to_login(app):
    reply = app.test_client().get("/home")
    assert reply.status_code == 302 and reply.headers["Location"].endswith("/accounts/login")


@pytest.mark.parametrize("field,value,message", [
    ("username", "a", "username"), ("email", "not-an-email", "email"),
    ("password", "short", "password"), ("role", "boss", "unknown role"),
])
def test_admin_creates_users_with_field_errors(api_as, field, value, message):
    _, admin = api_as(Role.ADMIN)
    body = {"username": "newperson", "email": "new@example.test", "password": "long-enough-pw",
            "role": "annotator", field: value}
    reply = admin.post("/api/accounts/users", json=body)
    assert reply.status_code == 422 and message in reply.json["message"]


def test_duplicate_username_is_conflict(api_as):
    user, admin = api_as(Role.ADMIN)
    reply = admin.post("/api/accounts/users", json={"username": user.username, "email": "x@example.test",
                                                    "password": "long-enough-pw", "role": "buyer"})
    assert reply.status_code == 409 and "username" in reply.json["message"]


def test_cli_creates_user_with_token(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "create", "--username", "climanager", "--email", "c@example.test",
                                 "--role", "manager", "--password", "long-enough-pw", "--token"])
    assert result.exit_code == 0, result.output
    assert "role=manager" in result.output and "token=qlt_" in result.output
    again = runner.invoke(args=["users", "create", "--username", "climanager", "--email", "d@example.test",
                                "--role", "manager", "--password", "long-enough-pw"])
    assert again.exit_code != 0 and "username: already taken" in again.output


def test_repeated_wrong_passwords_are_throttled_per_account(app, session):
    from accounts.throttle import LIMITS

    user, other = make_user(session, Role.BUYER), make_user(session, Role.BUYER)
    client = app.test_client()
    for _ in range(LIMITS["user"]):
        assert client.post("/api/accounts/tokens", auth=(user.username, "wrong-password")).status_code == 401
    refused = client.post("/api/accounts/tokens", auth=(user.username, PASSWORD))  # even the right one, for now
    assert refused.status_code == 429 and "too many failed sign-ins" in refused.json["message"]
    assert client.post("/api/accounts/tokens", auth=(other.username, PASSWORD)).status_code == 201
    page = client.post("/accounts/login", data={"username": user.username, "password": PASSWORD,
                                                "csrf_token": _csrf(client.get("/accounts/login").get_data(as_text=True))})
    assert page.status_code == 429
