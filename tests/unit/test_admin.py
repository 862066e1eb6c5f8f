"""Administration: only admins reach the admin pages and API; users and roles change under the
self and last-admin guards; the system page and RQ dashboard render on fakeredis and re-queue
failed jobs; /metrics speaks Prometheus to this host or an admin only; logs are JSON and redacted."""
from __future__ import annotations

import io
import json
import logging
import re
from datetime import timedelta

import pytest
import redis
from flask import g
from rq import Queue, Worker
from rq.registry import FailedJobRegistry

import logs
from accounts.models import Role, User
from admin import users as user_admin
from app import create_app
from background.models import JobRecord, JobStatus
from errors import Conflict
from extensions import redis_connection, utcnow
from tests.conftest import PASSWORD, make_user
from tests.unit.test_qa_workflow import job, label_all
from tests.unit.test_workflow import CHOICES

NOT_ADMIN = [Role.MANAGER, Role.ANNOTATOR, Role.REVIEWER, Role.BUYER]
NEW_USER = {"username": "newbie", "email": "newbie@example.test", "password": "long-enough-pw",
            "role": "reviewer", "display_name": "新人"}


def _admin_routes(app) -> list[tuple[str, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] in ("admin_pages", "admin_api"):
            url = re.sub(r"<(?:int:)?\w+>", "1", rule.rule)
            found += [(method, url) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return found


def _csrf(html: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', html).group(1)


def signed_in(app, session, role=Role.ADMIN):
    user = make_user(session, role)
    client = app.test_client()
    g.pop("csrf_token", None)  # one app context spans the test: drop Flask-WTF's cached token
    token = _csrf(client.get("/accounts/login").get_data(as_text=True))
    assert client.post("/accounts/login", data={"username": user.username, "password": PASSWORD,
                                                "csrf_token": token}).status_code == 302
    g.pop("csrf_token", None)  # the sign-in started a new session with a new token
    return user, client


# --- who may enter ----------------------------------------------------------------------------

@pytest.mark.parametrize("role", NOT_ADMIN)
def test_every_admin_page_and_api_refuses_other_roles(app, api_as, role):
    routes = _admin_routes(app)
    assert len(routes) >= 10
    _, api = api_as(role)
    for method, url in routes:
        reply = api.client.open(url, method=method, headers=api.headers, json={})
        assert reply.status_code == 403, (method, url, reply.status_code)


def test_anonymous_visitors_sign_in_first(app):
    client = app.test_client()
    assert client.get("/admin/users").headers["Location"].endswith("/accounts/login")
    assert client.get("/api/admin/users").status_code == 401


# --- users and roles through the API ----------------------------------------------------------

def test_admin_creates_a_user_and_never_sees_a_hash(api_as, session):
    _, admin = api_as(Role.ADMIN)
    reply = admin.post("/api/admin/users", json=NEW_USER)
    assert reply.status_code == 201
    assert reply.json["role"] == "reviewer" and reply.json["is_active"] is True
    listing = admin.get("/api/admin/users").get_data(as_text=True)
    assert "newbie" in listing and "$argon2" not in listing and "hash" not in listing
    assert user_admin.get_user(session, reply.json["id"]).password_hash.startswith("$argon2id$")


@pytest.mark.parametrize("field,value", [("username", "a"), ("email", "nope"), ("password", "short"),
                                         ("role", "boss"), ("display_name", 7)])
def test_create_errors_are_422_naming_the_field(api_as, field, value):
    _, admin = api_as(Role.ADMIN)
    reply = admin.post("/api/admin/users", json={**NEW_USER, field: value})
    assert reply.status_code == 422 and reply.json["message"].startswith(f"{field}:")


def test_role_change_and_the_self_guard(api_as, session):
    me, admin = api_as(Role.ADMIN)
    other, _ = api_as(Role.ADMIN)
    assert admin.patch(f"/api/admin/users/{other.id}", json={"role": "manager"}).json["role"] == "manager"
    assert session.get(User, other.id).role == Role.MANAGER
    mine = admin.patch(f"/api/admin/users/{me.id}", json={"role": "manager"})
    assert mine.status_code == 409 and mine.json["message"].startswith("role:")
    bad = admin.patch(f"/api/admin/users/{other.id}", json={"role": "owner"})
    assert bad.status_code == 422 and bad.json["message"].startswith("role:")
    extra = admin.patch(f"/api/admin/users/{other.id}", json={"password": "x"})
    assert extra.status_code == 422 and extra.json["message"].startswith("password:")
    assert admin.patch("/api/admin/users/999999", json={"role": "buyer"}).status_code == 404


def test_deactivation_locks_out_at_once_and_reactivation_restores(api_as, session):
    me, admin = api_as(Role.ADMIN)
    worker, worker_api = api_as(Role.ANNOTATOR)
    assert worker_api.get("/api/accounts/me").status_code == 200
    off = admin.patch(f"/api/admin/users/{worker.id}", json={"is_active": False})
    assert off.status_code == 200 and off.json["is_active"] is False
    assert worker_api.get("/api/accounts/me").status_code == 401
    assert admin.patch(f"/api/admin/users/{worker.id}", json={"is_active": True}).json["is_active"] is True
    assert worker_api.get("/api/accounts/me").status_code == 200
    mine = admin.patch(f"/api/admin/users/{me.id}", json={"is_active": False})
    assert mine.status_code == 409 and mine.json["message"].startswith("is_active:")
    vague = admin.patch(f"/api/admin/users/{worker.id}", json={"is_active": "no"})
    assert vague.status_code == 422 and vague.json["message"].startswith("is_active:")


def test_the_last_active_admin_can_be_neither_demoted_nor_deactivated(session):
    last = make_user(session, Role.ADMIN)
    retired = make_user(session, Role.ADMIN)  # e.g. acting from a script after being deactivated
    retired.is_active = False
    session.commit()
    with pytest.raises(Conflict, match="last active admin"):
        user_admin.change_role(session, retired, last, Role.MANAGER)
    with pytest.raises(Conflict, match="last active admin"):
        user_admin.set_active(session, retired, last, False)
    second = make_user(session, Role.ADMIN)
    user_admin.change_role(session, second, last, Role.MANAGER)  # another admin remains: allowed
    assert last.role == Role.MANAGER


# --- users and roles through the pages --------------------------------------------------------

def test_users_page_lists_creates_and_changes_roles(app, session):
    me, client = signed_in(app, session)
    annotator = make_user(session, Role.ANNOTATOR)
    page = client.get("/admin/users")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and annotator.username in html and "$argon2" not in html
    assert "用户与角色 / Users and roles" in html  # bilingual until someone chooses
    token = _csrf(html)
    created = client.post("/admin/users", data={**NEW_USER, "csrf_token": token})
    assert created.status_code == 303
    assert "newbie" in client.get("/admin/users").get_data(as_text=True)
    refused = client.post("/admin/users", data={**NEW_USER, "username": "x", "csrf_token": token})
    assert refused.status_code == 422 and "username:" in refused.get_data(as_text=True)
    promoted = client.post(f"/admin/users/{annotator.id}/role", data={"role": "reviewer", "csrf_token": token})
    assert promoted.status_code == 303
    session.expire_all()
    assert session.get(User, annotator.id).role == Role.REVIEWER
    own = client.post(f"/admin/users/{me.id}/active", data={"active": "0", "csrf_token": token})
    assert own.status_code == 409 and session.get(User, me.id).is_active
    forged = client.post(f"/admin/users/{annotator.id}/active", data={"active": "0"})
    assert forged.status_code == 400  # no CSRF token


# --- system health and the RQ dashboard -------------------------------------------------------

def _failed_record(session, error: str = "ValueError: boom", func: str = "math.sqrt") -> JobRecord:
    record = JobRecord(kind="qa.run", func=func, args=[16], queue="qa", status=JobStatus.FAILED,
                       error=error, attempts=4, started_at=utcnow(), finished_at=utcnow())
    session.add(record)
    session.commit()
    return record


def test_system_page_shows_services_workers_queues_and_failed_jobs(app, session, fake_ls):
    _, client = signed_in(app, session)
    record = _failed_record(session, error="HTTPError: GET /api?token=qlt_leaked-secret failed")
    html = client.get("/admin/system").get_data(as_text=True)
    for expected in ("intake", "labelstudio", "exports", "qa.run", "Label Studio", "flask worker", f"job-{record.id}"):
        assert expected in html, expected
    assert "qlt_leaked-secret" not in html and "token=[REDACTED]" in html
    fake = redis_connection()
    Worker([Queue("qa", connection=fake)], connection=fake, name="w-test").register_birth()
    state = client.get("/api/admin/system").json
    assert state["services"]["all_up"] is True
    assert [w["name"] for w in state["rq"]["workers"]] == ["w-test"]
    assert {q["name"] for q in state["rq"]["queues"]} == {"upkeep", "intake", "labelstudio", "qa", "exports", "deliveries"}
    assert state["failed_jobs"][0]["id"] == record.id
    assert "w-test" in client.get("/admin/system").get_data(as_text=True)


def test_system_page_says_when_redis_is_away(app, session, fake_ls):
    _, client = signed_in(app, session)
    app.extensions["qianling.redis"] = redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=1)
    page = client.get("/admin/system")
    assert page.status_code == 200 and "Redis" in page.get_data(as_text=True)
    assert client.get("/api/admin/system").json["rq"]["up"] is False


def test_admin_requeues_a_failed_job_once(app, session, fake_ls):
    _, client = signed_in(app, session)
    record = _failed_record(session)
    fake = redis_connection()
    stale = Queue("qa", connection=fake).create_job("math.sqrt", args=(16,), job_id=record.rq_id)
    stale.save()
    stale.set_status("failed")  # what RQ leaves after the last retry
    FailedJobRegistry("qa", connection=fake).add(stale, ttl=3600)
    token = _csrf(client.get("/admin/system").get_data(as_text=True))
    reply = client.post(f"/api/admin/jobs/{record.id}/requeue", headers={"X-CSRFToken": token})
    assert reply.status_code == 202, reply.json
    session.expire_all()
    assert session.get(JobRecord, record.id).status == JobStatus.FINISHED  # inline queue: ran already
    assert record.rq_id not in FailedJobRegistry("qa", connection=fake)
    again = client.post(f"/api/admin/jobs/{record.id}/requeue", headers={"X-CSRFToken": token})
    assert again.status_code == 409 and "only failed jobs" in again.json["message"]
    assert client.post(f"/api/admin/jobs/{record.id}/requeue").status_code == 400  # no CSRF token


# --- /metrics ---------------------------------------------------------------------------------

def _sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    line = next(line for line in text.splitlines() if line.startswith(f"{name}{{{wanted}}}" if labels else f"{name} "))
    return float(line.rsplit(" ", 1)[1])


def test_metrics_expose_latency_queues_jobs_and_annotations(app, api_as, session, fake_ls):
    manager = api_as(Role.MANAGER)[1]
    job(manager, ["问题甲", "问题乙"], overlap=1, batch_size=10)
    label_all(api_as(Role.ANNOTATOR)[1], {"问题甲": CHOICES[0], "问题乙": CHOICES[1]})
    session.add(JobRecord(kind="exports.build", func="x.y", queue="exports", status=JobStatus.FINISHED,
                          started_at=utcnow() - timedelta(seconds=3), finished_at=utcnow()))
    session.commit()
    reply = app.test_client().get("/metrics")  # the test client comes from 127.0.0.1
    text = reply.get_data(as_text=True)
    assert reply.status_code == 200 and reply.content_type.startswith("text/plain")
    assert re.search(r'qianling_http_request_duration_seconds_count\{endpoint="tasks_api\.\w+",status="2xx"\} [1-9]', text)
    assert _sample(text, "qianling_rq_queue_jobs", queue="intake", state="queued") == 0
    assert _sample(text, "qianling_rq_workers", state="busy") == 0
    assert _sample(text, "qianling_job_duration_seconds_bucket", kind="exports.build", le="1.0") == 0
    assert _sample(text, "qianling_job_duration_seconds_bucket", kind="exports.build", le="5.0") == 1
    assert _sample(text, "qianling_annotations_last_minute") == 2
    assert _sample(text, "qianling_annotations_accepted") == 2
    assert _sample(text, "qianling_metrics_source_up", source="redis") == 1


def test_metrics_refuse_remote_clients_without_an_admin_token(app, api_as):
    remote = {"REMOTE_ADDR": "203.0.113.7"}
    client = app.test_client()
    assert client.get("/metrics", environ_base=remote).status_code == 403
    _, manager = api_as(Role.MANAGER)
    assert client.get("/metrics", environ_base=remote, headers=manager.headers).status_code == 403
    _, admin = api_as(Role.ADMIN)
    assert client.get("/metrics", environ_base=remote, headers=admin.headers).status_code == 200
    # Through a reverse proxy on this host the peer is 127.0.0.1, but the client is not.
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 403


def test_metrics_survive_redis_down_and_support_multiprocess_mode(app, monkeypatch, tmp_path):
    (tmp_path / "prometheus").mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prometheus"))
    app.extensions["qianling.redis"] = redis.Redis(host="127.0.0.1", port=9, socket_connect_timeout=1)
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert _sample(text, "qianling_metrics_source_up", source="redis") == 0
    assert _sample(text, "qianling_metrics_source_up", source="database") == 1
    assert "qianling_annotations_accepted" in text


# --- logs -------------------------------------------------------------------------------------

def _json_logger(stream: io.StringIO, secrets=()) -> logging.Logger:
    logger = logging.getLogger("tests.admin.json")
    logger.handlers[:] = [logs.build_handler("json", secrets, stream)]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger


def test_json_log_lines_parse_and_carry_the_request_id(app):
    stream = io.StringIO()
    logger = _json_logger(stream)
    logger.info("event=plain n=%s", 3)
    with app.test_request_context(headers={"X-Request-ID": "req-42"}):
        logger.warning("event=in_request 中文")
    first, second = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert first["message"] == "event=plain n=3" and first["level"] == "INFO" and "request_id" not in first
    assert first["logger"] == "tests.admin.json" and first["time"].endswith("+00:00")
    assert second["request_id"] == "req-42" and second["message"] == "event=in_request 中文"
    reply = app.test_client().get("/api/system/health", headers={"X-Request-ID": "bad id!"})
    assert re.fullmatch(r"[0-9a-f]{32}", reply.headers["X-Request-ID"])  # ill-formed ids are replaced


def test_logs_redact_tokens_passwords_and_secrets():
    stream = io.StringIO()
    logger = _json_logger(stream, secrets=["the-app-secret-key"])
    logger.info("issued %s", "qlt_AbC123-xyz")
    logger.info("login password=hunter2 token=abc Authorization: Bearer opaque-value")
    logger.info("config SECRET_KEY is the-app-secret-key; db postgresql://ql:pw@db/x")
    try:
        raise RuntimeError("call failed with {'password': 'p4ss'} and qlt_InTraceback")
    except RuntimeError:
        logger.exception("event=failed")
    output = stream.getvalue()
    for secret in ("qlt_AbC123", "hunter2", "token=abc", "opaque-value", "the-app-secret-key", ":pw@", "p4ss",
                   "qlt_InTraceback"):
        assert secret not in output, secret
    lines = [json.loads(line) for line in output.splitlines()]
    assert lines[0]["message"] == "issued qlt_[REDACTED]"
    assert "RuntimeError" in lines[-1]["exc"]
    assert logs.redact("password: at least 8 characters") == "password: at least 8 characters"


def _access_line(tmp_path, environ: dict, headers: list[tuple[str, str]], access_log_format: str | None = None) -> str:
    """The line our gunicorn logger writes for one request."""
    from types import SimpleNamespace

    from gunicorn.config import Config

    config = Config()
    config.set("accesslog", str(tmp_path / "access.log"))
    if access_log_format:
        config.set("access_log_format", access_log_format)
    logger = logs.GunicornLogger(config)
    environ = {"REQUEST_METHOD": "GET", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", **environ}
    reply = SimpleNamespace(status="200 OK", sent=10, headers=[])
    logger.access(reply, SimpleNamespace(headers=headers), environ, timedelta(milliseconds=3))
    for handler in logger.access_log.handlers:
        handler.close()
    return (tmp_path / "access.log").read_text()


def test_gunicorn_access_log_hides_signed_download_links(tmp_path):
    """gunicorn writes its access log itself; a signed link in a path is a credential there too."""
    line = _access_line(tmp_path, {"RAW_URI": "/downloads/eyJmIjo1fQ.Zx-Sig_ned?x=1&token=abc",
                                   "PATH_INFO": "/downloads/eyJmIjo1fQ.Zx-Sig_ned", "QUERY_STRING": "x=1&token=abc"},
                        [("AUTHORIZATION", "Bearer qlt_secret")])
    assert "GET /downloads/[REDACTED]" in line and " 200 " in line
    assert "eyJmIjo1fQ" not in line and "Sig_ned" not in line and "abc" not in line


def test_gunicorn_access_log_redacts_headers_its_format_writes(tmp_path):
    """Only written fields are redacted (for speed): a format that logs a header gets it redacted."""
    line = _access_line(tmp_path, {"RAW_URI": "/api/projects", "PATH_INFO": "/api/projects", "QUERY_STRING": ""},
                        [("AUTHORIZATION", "Bearer qlt_secret"), ("X-REQUEST-ID", "abc123")],
                        '%(r)s %({Authorization}i)s %({x-request-id}i)s')
    assert "GET /api/projects" in line and "abc123" in line
    assert "qlt_secret" not in line and "[REDACTED]" in line


def test_log_format_must_be_known(tmp_path):
    with pytest.raises(RuntimeError, match="LOG_FORMAT"):
        create_app({"SECRET_KEY": "x", "LOG_FORMAT": "xml", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
