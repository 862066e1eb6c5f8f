"""The manager's job pages: who may open them, what they show, and that user text stays text."""
from __future__ import annotations

import re

import pytest

from accounts.models import Role
from extensions import db
from projects import service
from projects.models import Project, ProjectStatus
from projects.pages import render_markdown
from tests.conftest import PASSWORD, make_user

PAGES = ("/projects", "/projects/new", "/projects/{id}", "/projects/{id}/edit")
TEMPLATE = {"type": "text_classification", "choices": ["交通运输", "教育"]}


def signed_in(app, user):
    """A test client holding a browser session for `user`, signed in through the login form."""
    client = app.test_client()
    # Requests share the test's app context, and Flask-WTF keeps the CSRF token in `g`: a context
    # of its own keeps one client's token from leaking into the next client's login form.
    with app.app_context():
        page = client.get("/accounts/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        reply = client.post("/accounts/login", data={"username": user.username, "password": PASSWORD,
                                                      "csrf_token": token})
    assert reply.status_code == 302
    return client


def new_job(session, owner, **fields):
    project = service.create_project(session, owner, {"title": "市民来信分拨", "template": TEMPLATE, **fields})
    session.commit()
    return project


def change_job(job_id: int, **fields) -> None:
    """Set fields on a job directly (each request closes the test's session, detaching its objects)."""
    project = db.session.get(Project, job_id)
    for name, value in fields.items():
        setattr(project, name, value)
    db.session.commit()


@pytest.fixture
def manager(session):
    return make_user(session, Role.MANAGER)


def test_pages_are_for_managers_and_admins(app, session, manager):
    job = new_job(session, manager)
    anonymous = app.test_client()
    annotator = signed_in(app, make_user(session, Role.ANNOTATOR))
    buyer = signed_in(app, make_user(session, Role.BUYER))
    staff = signed_in(app, manager), signed_in(app, make_user(session, Role.ADMIN))
    for page in PAGES:
        url = page.format(id=job.id)
        away = anonymous.get(url)
        assert away.status_code == 302 and away.headers["Location"].endswith("/accounts/login"), url
        assert annotator.get(url).status_code == 403, url
        assert buyer.get(url).status_code == 403, url
        assert [client.get(url).status_code for client in staff] == [200, 200], url


def test_a_manager_sees_only_their_own_jobs(app, session, manager):
    other = make_user(session, Role.MANAGER)
    mine, theirs = new_job(session, manager, title="我的任务"), new_job(session, other, title="别人的任务")
    client = signed_in(app, manager)
    listing = client.get("/projects").get_data(as_text=True)
    assert "我的任务" in listing and "别人的任务" not in listing
    for url in (f"/projects/{theirs.id}", f"/projects/{theirs.id}/edit", "/projects/999999"):
        reply = client.get(url)
        assert reply.status_code == 404 and "别人的任务" not in reply.get_data(as_text=True), url
    admin_listing = signed_in(app, make_user(session, Role.ADMIN)).get("/projects").get_data(as_text=True)
    assert "我的任务" in admin_listing and "别人的任务" in admin_listing
    assert f"/projects/{mine.id}" in listing


def test_guidelines_and_titles_are_escaped(app, session, manager):
    job = new_job(session, manager, title="<img src=x onerror=alert(1)>标题",
                  guidelines="## 规则\n<script>alert('x')</script> 按**属地**分拨\n"
                             "[点我](javascript:alert(1)) [标准](https://example.org/a?b=1&c=2)")
    html = signed_in(app, manager).get(f"/projects/{job.id}").get_data(as_text=True)
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;标题" in html
    assert "<strong>属地</strong>" in html and "<h4>规则</h4>" in html
    assert 'href="javascript' not in html
    assert '<a href="https://example.org/a?b=1&amp;c=2" rel="nofollow noopener noreferrer">标准</a>' in html


def test_job_page_offers_only_legal_moves(app, session, manager):
    job = new_job(session, manager)
    html = signed_in(app, manager).get(f"/projects/{job.id}").get_data(as_text=True)
    buttons = re.findall(r'<button type="button" data-status="(\w+)">', html)
    assert buttons == ["archived"]  # a draft is activated by publishing it, not by a button
    change_job(job.id, ls_project_id=7, status=ProjectStatus.PAUSED)
    html = signed_in(app, manager).get(f"/projects/{job.id}").get_data(as_text=True)
    assert re.findall(r'<button type="button" data-status="(\w+)">', html) == ["active", "completed"]


def test_settings_page_freezes_batching_after_the_draft(app, session, manager):
    job = new_job(session, manager)
    client = signed_in(app, manager)
    assert 'id="f-batch_size"' in client.get(f"/projects/{job.id}/edit").get_data(as_text=True)
    assert "disabled" not in re.search(r'<input id="f-batch_size"[^>]*>', client.get(
        f"/projects/{job.id}/edit").get_data(as_text=True)).group(0)
    change_job(job.id, status=ProjectStatus.ACTIVE)
    field = re.search(r'<input id="f-batch_size"[^>]*>', client.get(f"/projects/{job.id}/edit").get_data(as_text=True))
    assert "disabled" in field.group(0)


def test_editor_assets_are_served_by_name_only(app, session, manager, tmp_path):
    build = tmp_path / "editor-build"
    (build / "static" / "js").mkdir(parents=True)
    (build / "static" / "css").mkdir(parents=True)
    (build / "static" / "js" / "main.js").write_text("window.LabelStudio = function () {};")
    (build / "static" / "css" / "main.css").write_text(".lsf-root {}")
    (build / "index.html").write_text("<p>not served</p>")
    app.config["LABEL_STUDIO_EDITOR_DIR"] = str(build)
    client = signed_in(app, manager)
    with client.get("/vendor/label-studio/main.js") as script:
        assert script.status_code == 200 and b"LabelStudio" in script.data
        assert script.mimetype in ("text/javascript", "application/javascript")
    with client.get("/vendor/label-studio/main.css") as sheet:
        assert sheet.status_code == 200 and sheet.mimetype == "text/css"
    for name in ("index.html", "..%2Findex.html", "main.js.map", "%2E%2E%2F%2E%2E%2Fapp.py"):
        assert client.get(f"/vendor/label-studio/{name}").status_code == 404, name
    assert app.test_client().get("/vendor/label-studio/main.js").status_code == 302  # signed-in users only
    app.config["LABEL_STUDIO_EDITOR_DIR"] = str(tmp_path / "absent")
    missing = client.get("/vendor/label-studio/main.js")
    assert missing.status_code == 404 and "bin/setup" in missing.get_data(as_text=True)


@pytest.mark.parametrize("text,html", [
    ("# 标题", "<h3>标题</h3>"),
    ("- 一\n- 二", "<ul>\n<li>一</li>\n<li>二</li>\n</ul>"),
    ("1. 一\n2. 二", "<ol>\n<li>一</li>\n<li>二</li>\n</ol>"),
    ("第一行\n第二行\n\n新段落", "<p>第一行<br>第二行</p>\n<p>新段落</p>"),
    ("用 `<b>` 标记", "<p>用 <code>&lt;b&gt;</code> 标记</p>"),
    ("```\n<script>x()</script>\n```", "<pre><code>&lt;script&gt;x()&lt;/script&gt;</code></pre>"),
    ("重要*强调*文本", "<p>重要<em>强调</em>文本</p>"),
    ('<a href="javascript:x()">点</a>', "<p>&lt;a href=&#34;javascript:x()&#34;&gt;点&lt;/a&gt;</p>"),
    ("[点](javascript:x())", "<p>[点](javascript:x())</p>"),
    ("", ""),
])
def test_markdown_subset(text, html):
    assert str(render_markdown(text)) == html
