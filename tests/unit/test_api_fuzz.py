"""Fuzzing the HTTP API from its own OpenAPI description (schemathesis): every operation, called
by a role it allows on a small seeded job, answers no 5xx, answers each 4xx as JSON naming the
error, and leaves the database as it was whenever it refuses."""
from __future__ import annotations

import pytest
import schemathesis
from schemathesis import GenerationMode
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text

from accounts.models import Role
from apidocs import build_document
from app import create_app
from extensions import Base, db
from tests.unit.test_qa_workflow import job
from tests.unit.test_workflow import upload

# Enough to reach past the schema into the services while the whole module stays near a minute.
FUZZ = settings(max_examples=6, derandomize=True, deadline=None, database=None, print_blob=True,
                # A failure is reported as found, unshrunk: shrinking would replay hundreds of requests.
                phases=[Phase.explicit, Phase.generate],
                # Each example is a real request on a SQLite file: slow for Hypothesis' taste, and
                # some bodies (oneOf/anyOf/not) need a few draws; neither is a bug in the app.
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# Columns a refused request may still write: when the token was last used (every authenticated
# request touches it, refused or not).
VOLATILE = {"api_token": {"last_used_at"}}


def _operations() -> list[tuple[str, str, list[str] | None]]:
    """(method, path, roles) of every documented operation; the URL map needs no database."""
    app = create_app({"TESTING": True, "SECRET_KEY": "collect", "DATABASE_URL": "sqlite://"})
    with app.test_request_context():
        document = build_document(app)
    return [(method.upper(), path, operation.get("x-roles"))
            for path, item in document["paths"].items() for method, operation in item.items()]


@pytest.fixture
def world(app, api_as, session, fake_ls):
    """A published job with a claimed task, one caller per role, and the ids the paths can name."""
    _, manager = api_as(Role.MANAGER)
    project = job(manager, ["第一条", "第二条", "第三条"], overlap=2)
    report = upload(manager, project["id"], "text\n第四条\n".encode())
    annotator_user, annotator = api_as(Role.ANNOTATOR)
    task = annotator.get("/api/tasks/next").json["task"]
    batch = manager.get(f"/api/projects/{project['id']}/batches").json["batches"][0]
    callers = {Role.MANAGER.value: manager, Role.ANNOTATOR.value: annotator}
    callers |= {role.value: api_as(role)[1] for role in (Role.ADMIN, Role.REVIEWER, Role.BUYER)}
    ids = {"project_id": project["id"], "task_id": task["id"], "batch_id": batch["id"],
           "upload_id": report["id"], "user_id": annotator_user.id}
    return callers, ids


def _snapshot() -> dict[str, list[tuple]]:
    """Every row of every table, less the columns any authenticated request writes."""
    rows = {}
    with db.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if c.name not in VOLATILE.get(table.name, ())]
            rows[table.name] = sorted(map(tuple, connection.execute(select(*columns))), key=repr)
    return rows


def _check(case, response, before) -> None:
    where = f"{case.operation.label} {case.path_parameters} {case.query} {case.body!r}"[:2000]
    assert response.status_code < 500, f"{where} -> {response.status_code} {response.text[:500]}"
    if 400 <= response.status_code < 500:
        try:
            body = response.json()
        except ValueError:
            body = None
        assert isinstance(body, dict) and {"error", "message"} <= body.keys(), f"{where} -> {response.text[:300]}"
        assert isinstance(body["message"], str) and body["message"].strip(), where
        after = _snapshot()
        changed = sorted(name for name in after if after[name] != before[name])
        assert not changed, f"{where} -> {response.status_code} but it wrote to {changed}"


@pytest.mark.parametrize(("method", "path", "roles"), _operations(), ids=lambda v: v if isinstance(v, str) else "")
def test_operation_never_fails_with_5xx_and_refuses_cleanly(app, world, method, path, roles):
    callers, ids = world
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app, headers=callers["admin"].headers)
    operation = schema[path][method]
    headers = callers[(roles or ["admin"])[0]].headers
    known = {name: st.just(ids[name]) for name in ids if f"{{{name}}}" in path}

    @FUZZ
    @given(case=st.one_of(operation.as_strategy(), operation.as_strategy(GenerationMode.NEGATIVE)), real_ids=st.fixed_dictionaries(known) if known else st.none(),
           use_real=st.booleans())
    def fuzz(case, real_ids, use_real):
        if use_real and real_ids:  # half the examples name things that exist, to get past the 404s
            case.path_parameters = {**(case.path_parameters or {}), **real_ids}
        before = _snapshot()
        response = case.call(headers={**headers, "Accept": "application/json"})
        _check(case, response, before)

    fuzz()


def test_the_snapshot_sees_a_change(app, world):
    """The "nothing half-written" check can fail: a write shows in the snapshot."""
    before = _snapshot()
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE project SET title = 'changed'"))
    assert _snapshot() != before
