"""The UI in Chinese, English or both: chosen per user (kept on the account) or per visitor (a
cookie), dates and numbers formatted for the language, and a catalog that covers every message."""
from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path

import pytest
from flask import g

from accounts.models import Role, User
from config import ROOT
from extensions import db
from i18n import chinese, format_datetime, format_number
from tests.conftest import PASSWORD, make_user


def _csrf(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def signed_in(app, session, role=Role.MANAGER):
    user = make_user(session, role)
    client = app.test_client()
    token = _csrf(client.get("/accounts/login").get_data(as_text=True))
    assert client.post("/accounts/login", data={"username": user.username, "password": PASSWORD,
                                                "csrf_token": token}).status_code == 302
    return user, client


def choose(client, locale: str, next_page: str = "/home"):
    # The `app` fixture holds one app context for the whole test, so Flask-WTF's per-request cache
    # of the CSRF token in `g` would outlive the sign-in that replaced the session: drop it.
    g.pop("csrf_token", None)
    token = _csrf(client.get(next_page).get_data(as_text=True))
    return client.post("/language", data={"locale": locale, "next": next_page, "csrf_token": token})


def test_pages_are_bilingual_until_someone_chooses(app):
    html = app.test_client().get("/accounts/login").get_data(as_text=True)
    assert "登录 / Sign in" in html and 'lang="zh-CN"' in html


def test_a_user_choice_is_kept_on_the_account_and_applies_everywhere(app, session):
    user, client = signed_in(app, session)
    reply = choose(client, "en", "/projects")
    assert reply.status_code == 302 and reply.headers["Location"] == "/projects"
    html = client.get("/projects").get_data(as_text=True)
    assert "Labeling jobs" in html and "标注任务" not in html.split('id="ql-i18n"')[0] and 'lang="en"' in html
    assert db.session.get(User, user.id).locale == "en"
    other_browser = app.test_client()  # the account remembers, whichever browser signs in
    g.pop("csrf_token", None)
    token = _csrf(other_browser.get("/accounts/login").get_data(as_text=True))
    other_browser.post("/accounts/login", data={"username": user.username, "password": PASSWORD, "csrf_token": token})
    assert "Labeling jobs" in other_browser.get("/projects").get_data(as_text=True)
    choose(client, "zh_CN", "/projects")
    page = client.get("/projects").get_data(as_text=True).split('id="ql-i18n"')[0]
    assert "标注任务" in page and "Labeling jobs" not in page


def test_visitors_choose_with_a_cookie_and_bad_choices_are_refused(app):
    client = app.test_client()
    choose(client, "en", "/accounts/login")
    assert "<h1>Sign in</h1>" in client.get("/accounts/login").get_data(as_text=True)
    token = _csrf(client.get("/accounts/login").get_data(as_text=True))
    bad = client.post("/language", data={"locale": "fr", "csrf_token": token})
    assert bad.status_code == 422 and "locale" in bad.get_data(as_text=True)
    away = client.post("/language", data={"locale": "en", "next": "//evil.example/", "csrf_token": token})
    assert away.headers["Location"] == "/"  # never an open redirect


def test_dates_and_numbers_follow_the_language(app, session):
    when = datetime(2026, 11, 22, 6, 42, 5)  # stored in UTC: 14:42 in China
    _, client = signed_in(app, session)
    with app.test_request_context(headers={"Cookie": "ql_lang=en"}):
        assert format_datetime(when, "medium") == "Nov 22, 2026, 2:42:05\u202fPM"
        assert format_number(1234567.5, 1) == "1,234,567.5"
    with app.test_request_context(headers={"Cookie": "ql_lang=zh_CN"}):
        assert format_datetime(when, "medium") == "2026年11月22日 14:42:05"


@pytest.mark.parametrize("folder,pattern", [
    ("templates", r'_\(\s*"((?:[^"\\]|\\.)+)"'), ("static/js", r'QL\.t\(\s*"((?:[^"\\]|\\.)+)"')])
def test_every_message_in_templates_and_scripts_has_a_chinese_translation(folder, pattern):
    used = {m.encode().decode("unicode_escape") if "\\" in m else m
            for path in Path(ROOT, folder).rglob("*.*") if path.suffix in (".html", ".js")
            for m in re.findall(pattern, path.read_text(encoding="utf-8"))}
    missing = sorted(used - set(chinese()))
    assert not missing, f"add these to i18n/translations/zh_CN/LC_MESSAGES/messages.po: {missing}"
    assert len(used) > 50
