"""The API's own description (apidocs.py): a valid OpenAPI 3.1 document naming every /api route
and method, whose roles are the ones the routes enforce and whose bodies are the ones they accept,
and a docs page every signed-in role can read and nobody signed out can."""
from __future__ import annotations

import re

import pytest
from flask import g
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from accounts.models import Role
from apidocs import BODIES, build_document
from tests.conftest import PASSWORD, make_user

UNSAFE = {"post", "put", "patch", "delete"}
REFUSED_FOR_ROLE = "this needs the role"


@pytest.fixture
def document(app):
    with app.test_request_context():
        return build_document(app)


@pytest.fixture
def callers(api_as):
    """One API client per role."""
    return {role: api_as(role)[1] for role in Role}


def _operations(document):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def _concrete(path: str, operation) -> str:
    """`path` with each parameter filled in by a value of its type."""
    kinds = {p["name"]: p["schema"].get("type") for p in operation.get("parameters", []) if p["in"] == "path"}
    return re.sub(r"\{(\w+)\}", lambda m: "1" if kinds[m[1]] == "integer" else "x", path)


def _call(client, method: str, path: str):
    return client.client.open(path, method=method.upper(), headers=client.headers)


def test_the_served_document_is_valid_openapi_3_1(api_as):
    reply = api_as(Role.BUYER)[1].get("/api/openapi.json")
    assert reply.status_code == 200 and reply.content_type == "application/json"
    validate(reply.json)
    assert reply.json["openapi"] == "3.1.0"


def test_every_api_and_download_route_appears_with_every_method(app, document):
    expected = {(re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
                for rule in app.url_map.iter_rules() if rule.rule.startswith(("/api/", "/downloads/"))
                for method in rule.methods - {"HEAD", "OPTIONS"}}
    described = {(path, method) for path, method, _ in _operations(document)}
    assert described == expected
    assert ("/api/projects/{project_id}", "patch") in described and ("/downloads/{token}", "get") in described
    ids = [operation["operationId"] for _, _, operation in _operations(document)]
    assert len(ids) == len(set(ids))


def test_path_parameters_are_typed_from_their_converters(document):
    upload = document["paths"]["/api/projects/{project_id}/uploads/{upload_id}"]["get"]
    assert [(p["name"], p["in"], p["required"], p["schema"]["type"]) for p in upload["parameters"]] == [
        ("project_id", "path", True, "integer"), ("upload_id", "path", True, "integer")]
    token = document["paths"]["/downloads/{token}"]["get"]["parameters"][0]
    assert token["schema"] == {"type": "string", "pattern": "^[^/]+$"}


def test_summaries_and_descriptions_come_from_the_view_docstrings(document):
    assign = document["paths"]["/api/projects/{project_id}/batches/{batch_id}/assignees"]["post"]
    assert assign["summary"].startswith("Hand a batch to people by hand")
    assert assign["tags"] == ["projects_api"]
    records = document["paths"]["/api/workforce/records"]["get"]
    assert "payroll CSV" in records["summary"] and "text/csv" in records["responses"]["200"]["content"]
    assert document["paths"]["/api/tasks/{task_id}"]["get"]["summary"] == "Get task"  # no docstring: its name


def test_security_schemes_and_the_common_error_responses(app, document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["bearerToken"] == {"type": "http", "scheme": "bearer", "description": schemes["bearerToken"]["description"]}
    assert schemes["sessionCookie"]["name"] == app.config["SESSION_COOKIE_NAME"]
    assert schemes["csrfToken"] == {**schemes["csrfToken"], "in": "header", "name": "X-CSRFToken"}
    submit = document["paths"]["/api/tasks/{task_id}/annotations"]["post"]
    assert submit["security"] == [{"bearerToken": []}, {"sessionCookie": [], "csrfToken": []}]
    assert document["paths"]["/api/system/health"]["get"]["security"] == []
    responses = document["components"]["responses"]
    for status, name in ((401, "Unauthenticated"), (403, "Forbidden"), (404, "NotFound"), (409, "Conflict"),
                         (422, "InvalidInput"), (503, "ServiceUnavailable")):
        assert responses[name]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert submit["responses"]["422"] == {"$ref": "#/components/responses/InvalidInput"}
    assert document["components"]["schemas"]["Error"]["required"] == ["error", "message"]


def test_error_replies_fit_the_error_schema(api_as, document):
    error = Draft202012Validator(document["components"]["schemas"]["Error"])
    buyer, manager = api_as(Role.BUYER)[1], api_as(Role.MANAGER)[1]
    for reply in (buyer.get("/api/projects"), manager.get("/api/projects/999"),
                  manager.post("/api/projects", json={"template": {"type": "ner"}})):
        assert reply.status_code in (403, 404, 422)
        error.validate(reply.json)


def test_x_roles_are_the_roles_each_route_enforces(document, callers, fake_ls):
    """Every guarded operation refuses (403) each role it does not list, and lets the ones it
    lists past the role check (they may still get 404 or 422 for the made-up ids and empty
    bodies, statuses the document must then list)."""
    checked = 0
    for path, method, operation in _operations(document):
        if operation.get("x-public"):
            continue
        allowed = set(operation["x-roles"])
        assert allowed <= {r.value for r in Role}, path
        for role, client in callers.items():
            reply = _call(client, method, _concrete(path, operation))
            refused = reply.status_code == 403 and reply.json["message"].startswith(REFUSED_FOR_ROLE)
            assert refused == (role.value not in allowed), (method, path, role, reply.status_code)
            assert str(reply.status_code) in operation["responses"], (method, path, role, reply.get_data())
            checked += 1
    assert checked > 200


def test_public_operations_need_no_credentials(app, document):
    public = {(path, method) for path, method, op in _operations(document) if op.get("x-public")}
    assert ("/downloads/{token}", "get") in public and ("/api/system/health", "get") in public
    client = app.test_client()
    assert client.get("/api/system/health").status_code == 200
    assert client.get("/downloads/not-a-link").status_code == 404  # the link is the credential


def test_every_write_has_its_body_described_or_marked_bodiless(app, document):
    writes = {op["operationId"] for _, method, op in _operations(document) if method in UNSAFE}
    undescribed = sorted(writes - set(BODIES))
    assert not undescribed, f"describe these request bodies in apidocs.BODIES (None: no body): {undescribed}"
    stale = sorted(set(BODIES) - set(app.view_functions))
    assert not stale, f"apidocs.BODIES names endpoints that no longer exist: {stale}"
    upload = document["paths"]["/api/projects/{project_id}/uploads"]["post"]["requestBody"]
    assert upload["content"]["multipart/form-data"]["schema"]["required"] == ["file"]
    assert "requestBody" not in document["paths"]["/api/projects/{project_id}/publish"]["post"]


@pytest.mark.parametrize("body,accepted", [
    ({"title": "政务咨询分类", "template": {"type": "text_classification"}, "overlap": 3}, True),
    ({"title": "政务咨询分类", "label_config": '<View><Text name="text" value="$text"/><Choices name="label" '
      'toName="text"><Choice value="是"/><Choice value="否"/></Choices></View>', "max_overlap": None}, True),
    ({"template": {"type": "ner"}}, False),  # no title
    ({"title": "政务咨询分类", "template": {"type": "ner"}, "label_config": "<View/>"}, False),  # both
    ({"title": "政务咨询分类", "template": {"type": "ner", "colour": "red"}}, False),  # no such option
    ({"title": "政务咨询分类", "template": {"type": "ner"}, "overlap": 0}, False),
    ({"title": " x ", "template": {"type": "ner"}}, False),  # too short once stripped
])
def test_the_project_body_schema_accepts_what_the_route_accepts(document, api_as, body, accepted):
    schema = document["paths"]["/api/projects"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert Draft202012Validator(schema).is_valid(body) == accepted
    reply = api_as(Role.MANAGER)[1].post("/api/projects", json=body)
    assert reply.status_code == (201 if accepted else 422), reply.json


def test_other_body_schemas_refuse_what_their_routes_refuse(document, api_as, session):
    annotator = make_user(session, Role.ANNOTATOR)
    manager = api_as(Role.MANAGER)[1]
    cases = [("/api/workforce/annotators/{user_id}", "patch", {"mood": "good"}),
             ("/api/workforce/annotators/{user_id}", "patch", {"daily_capacity": -1}),
             ("/api/workforce/annotators/{user_id}/pause", "post", {"reason": "  "}),
             ("/api/workforce/teams", "post", {"name": "甲组"})]
    for path, method, body in cases:
        schema = document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
        assert not Draft202012Validator(schema).is_valid(body), (path, body)
        url = path.replace("{user_id}", str(annotator.id))
        reply = manager.client.open(url, method=method.upper(), json=body, headers=manager.headers)
        assert reply.status_code == 422, (path, body, reply.json)
    good = {"skills": {"政务": 3}, "daily_capacity": 200, "languages": ["zh", "bo"]}
    schema = document["paths"]["/api/workforce/annotators/{user_id}"]["patch"]["requestBody"]
    assert Draft202012Validator(schema["content"]["application/json"]["schema"]).is_valid(good)
    assert manager.patch(f"/api/workforce/annotators/{annotator.id}", json=good).status_code == 200


@pytest.mark.parametrize("role", list(Role))
def test_the_docs_page_renders_for_every_role(api_as, role):
    reply = api_as(role)[1].get("/api/docs")
    html = reply.get_data(as_text=True)
    assert reply.status_code == 200 and reply.content_type.startswith("text/html")
    assert "接口文档 / API reference" in html
    assert "<code>POST /api/tasks/{task_id}/annotations</code>" in html and "<code>lead_time</code>" in html
    assert 'id="tag-projects_api"' in html and "multipart/form-data" in html
    assert "cdn" not in html.lower() and "swagger" not in html.lower()  # nothing from outside


def test_the_docs_page_with_a_browser_session_follows_the_language(app, session):
    user = make_user(session, Role.ANNOTATOR)
    client = app.test_client()
    page = client.get("/accounts/login").get_data(as_text=True)
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    assert client.post("/accounts/login", data={"username": user.username, "password": PASSWORD,
                                                "csrf_token": token}).status_code == 302
    assert "接口文档 / API reference" in client.get("/api/docs").get_data(as_text=True)
    g.pop("csrf_token", None)  # the fixture's one app context would keep the pre-sign-in token
    token = re.search(r'name="csrf-token" content="([^"]+)"', client.get("/api/docs").get_data(as_text=True)).group(1)
    client.post("/language", data={"locale": "en", "next": "/api/docs", "csrf_token": token})
    html = client.get("/api/docs").get_data(as_text=True)
    assert "<h1>API reference</h1>" in html and "接口文档" not in html


def test_signed_out_callers_get_401(app):
    client = app.test_client()
    for path in ("/api/docs", "/api/openapi.json"):
        reply = client.get(path)
        assert reply.status_code == 401 and reply.json["error"] == "unauthenticated", path
