"""The HTTP API describing itself: `/api/openapi.json` (OpenAPI 3.1) and `/api/docs` (a page).

The document is built at request time from the app's URL map, so every route under /api/ and
/downloads/ is in it with each of its methods, typed path parameters, the view's docstring and
the roles `@requires` recorded on the view (`qianling_roles`). What a route's code does not say
in a way we can read is written here by hand, keyed by endpoint: request bodies, query
parameters, non-200 successes and extra errors. Body limits come from the services' constants
where they have them and are copied from the checks where not; tests/unit/test_apidocs.py sends
schema-valid and schema-invalid bodies to the routes to keep the two in step.
"""
from __future__ import annotations

import inspect
import json
import re
import sys
from typing import Any

from flask import Blueprint, Flask, current_app, render_template
from werkzeug.routing import Rule

from accounts.auth import Unauthenticated, requires
from accounts.models import Role
from accounts.service import MIN_PASSWORD
from errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
)
from exports.formats import FORMATS, SPLITS
from exports.routes import DECISIONS, MEDIA_TYPES
from projects.models import ProjectStatus
from projects.service import EDITABLE_AFTER_DRAFT, NUMBERS, QA_METHODS
from projects.templates import (
    MAX_HEADER_LENGTH,
    MAX_OPTION_LENGTH,
    MAX_OPTIONS,
    TEMPLATES,
)
from workforce.exams import MAX_COOLDOWN_HOURS, MAX_QUESTIONS
from workforce.service import MAX_CAPACITY, MAX_LEVEL

docs = Blueprint("apidocs", __name__, url_prefix="/api")
DOCUMENTED = ("/api/", "/downloads/")
SAFE = {"GET", "HEAD", "OPTIONS"}
_PARAM = re.compile(r"<(?:(?P<converter>\w+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
_CONVERTERS = {"int": {"type": "integer", "minimum": 0}, "float": {"type": "number", "minimum": 0},
               "uuid": {"type": "string", "format": "uuid"}, "path": {"type": "string", "minLength": 1}}
_SEGMENT = {"type": "string", "pattern": "^[^/]+$"}  # Werkzeug's default converter: one path segment
NOT_BLANK, TWO_CHARS = r"\S", r"\S[\s\S]*\S"  # what services check after strip()
_ERRORS = (Unauthenticated, Forbidden, NotFound, Conflict, InvalidInput, TooManyRequests, ServiceUnavailable)
ERROR_TEXT = {401: "Not signed in, or the bearer token is unknown or revoked.",
              403: "Signed in without a role this operation allows, or refused for the caller.",
              404: "No such thing, or not one the caller may see.",
              409: "The current state does not allow it (the message says why).",
              422: "A field is wrong; the message names it.",
              429: "Too many failed sign-ins; try again later.",
              503: "A service it depends on (Label Studio) is unreachable; retry later."}


# --- schema helpers ---------------------------------------------------------------------------

def _text(low: int = 0, high: int | None = None, **extra: Any) -> dict[str, Any]:
    """A string; `low` counts what is left after strip(), as the services do (0, 1 or 2)."""
    schema: dict[str, Any] = {"type": "string"}
    if low:
        schema["pattern"] = NOT_BLANK if low == 1 else TWO_CHARS
    if high is not None:
        schema["maxLength"] = high
    return {**schema, **extra}


def _int(low: int | None = None, high: int | None = None, **extra: Any) -> dict[str, Any]:
    bounds = {k: v for k, v in (("minimum", low), ("maximum", high)) if v is not None}
    return {"type": "integer", **bounds, **extra}


def _list(items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, **extra}


def _obj(properties: dict[str, Any], *required: str, **extra: Any) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return {**schema, **extra}


def _json(schema: dict[str, Any], description: str = "", required: bool = True) -> dict[str, Any]:
    body = {"required": required, "content": {"application/json": {"schema": schema}}}
    return {**body, "description": description} if description else body


REGION = _obj({"id": _text(), "from_name": _text(1), "to_name": _text(1), "type": _text(1),
               "value": {"type": "object"}}, "from_name", "to_name", "type", "value",
              description="One Label Studio result region; from_name/to_name/type must fit the job's config.")
RESULT = _list(REGION, minItems=1, description="A Label Studio result: a non-empty list of regions.")
NAMES = _list({"type": "string"})


def _template_option(name: str, default: Any) -> dict[str, Any]:
    if isinstance(default, bool):
        return {"type": "boolean"}
    if isinstance(default, (list, tuple)):
        return _list(_text(1, MAX_OPTION_LENGTH), minItems=2 if name == "choices" else 1, maxItems=MAX_OPTIONS,
                     uniqueItems=True)
    if name.endswith("field"):  # a data field name; an empty default means the field is optional
        return _text(pattern="^[A-Za-z_][A-Za-z0-9_]{0,63}$" if default else "^([A-Za-z_][A-Za-z0-9_]{0,63})?$")
    return _text(high=MAX_HEADER_LENGTH, pattern=r"^(?!\s*\$)")  # a leading $ would name a data field


def _template() -> dict[str, Any]:
    variants = [_obj({"type": {"const": key}, **{name: _template_option(name, default)
                                                 for name, default in template.default_options.items()}},
                     "type", title=template.title, additionalProperties=False)
                for key, template in TEMPLATES.items()]
    return {"oneOf": variants, "description": "Build the config from a template; options left out take "
                                              "the template's defaults (GET /api/projects/templates)."}


def _project(*required: str) -> dict[str, Any]:
    """A job definition: every field `projects.service` reads, with the limits it checks."""
    fields: dict[str, Any] = {"title": _text(2, 200), "domain": _text(1, 60),
                              "deadline": {"type": ["string", "null"], "format": "date",
                                           "description": "ISO date (a date-time is accepted too); null or \"\" for none"},
                              "piece_rate": {"type": "number", "minimum": 0, "maximum": 100000,
                                             "description": "CNY per annotation, kept to 0.01 (a numeric string works too)"},
                              "required_skills": _list(_text(high=60, minLength=1), maxItems=20),
                              "qa_method": {"enum": list(QA_METHODS)},
                              "batch_group_field": {"type": ["string", "null"], "maxLength": 100, "pattern": r"^$|\S"},
                              "guidelines": _text(high=100_000, description="Markdown; a change is a new version"),
                              "label_config": _text(1, description="Label Studio XML config"),
                              "template": _template()}
    for name, (kind, low, high) in NUMBERS.items():
        kind_name = "integer" if kind is int else "number"
        fields[name] = {"type": [kind_name, "null"] if name.startswith("max_") else kind_name,
                        "minimum": low, "maximum": high}
    return _obj(fields, *required, **{"not": {"required": ["label_config", "template"]}})


def _split() -> dict[str, Any]:
    share = {"type": "number", "minimum": 0, "maximum": 1}
    return {"oneOf": [_list(share, minItems=3, maxItems=3), _obj({name: share for name in SPLITS})],
            "default": [0.8, 0.1, 0.1], "description": "train, validation and test shares adding up to 1"}


def _version() -> dict[str, Any]:
    ids = _list(_int(), minItems=1)
    return _obj({"project_ids": ids, "project_id": _int(), "name": _text(1, 200),
                 "formats": _list({"enum": list(FORMATS)}, minItems=1, default=["jsonl", "parquet"]),
                 "split": _split(), "min_confidence": {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
                 "seed": _int(0, 2 ** 31 - 1, default=0), "labels": _list(_text(minLength=1)),
                 "batch_ids": _list(_int()), "include_annotations": {"type": "boolean", "default": False},
                 "license": _text(high=200), "description": _text(high=5000)},
                anyOf=[{"required": ["project_ids"]}, {"required": ["project_id"]}])


UPLOAD = {"required": True, "description": "multipart/form-data; the file type comes from its name: .csv, .tsv, "
                                           ".json, .jsonl, .ndjson, .xlsx, .txt (one image URL a line), .zip (images)",
          "content": {"multipart/form-data": {"schema": _obj(
              {"file": {"type": "string", "format": "binary"},
               "skip_bad_rows": {"enum": ["true", "false"], "default": "false"},
               "gold_field": _text(description="the column holding gold answers")}, "file")}}}

# Request bodies by endpoint; None: the operation takes no body (every unsafe /api route is listed).
BODIES: dict[str, dict[str, Any] | None] = {
    "accounts_api.create_token": _json(_obj({"name": _text(description="a label for the token; cut to 80")}),
                                       "Optional; credentials go in HTTP Basic auth.", required=False),
    "accounts_api.add_user": _json(_obj({"username": _text(pattern="^[A-Za-z0-9_.-]{2,80}$"),
                                         "email": _text(format="email"), "password": _text(minLength=MIN_PASSWORD),
                                         "role": {"enum": [r.value for r in Role]}, "display_name": _text()},
                                        "username", "email", "password", "role")),
    "admin_api.add_user": _json(_obj({"username": _text(pattern=r"^\s*[A-Za-z0-9_.-]{2,80}\s*$"),
                                       "email": _text(format="email"), "password": _text(minLength=MIN_PASSWORD),
                                       "role": {"enum": [r.value for r in Role]}, "display_name": _text()},
                                      "username", "email", "password", "role"), "Text fields are stripped."),
    "admin_api.update_user": _json(_obj({"role": {"enum": [r.value for r in Role]}, "is_active": {"type": "boolean"}},
                                        minProperties=1, additionalProperties=False),
                                   "You cannot demote or deactivate yourself, nor the last active admin (409)."),
    "admin_api.requeue_job": None,
    "projects_api.create": _json(_project("title") | {"anyOf": [{"required": ["label_config"]}, {"required": ["template"]}]},
                                 "Give `label_config` or `template`, not both."),
    "projects_api.update": _json(_project(), "Only the fields sent change. Once the job is no longer a draft "
                                             f"only these may: {', '.join(sorted(EDITABLE_AFTER_DRAFT))}."),
    "projects_api.preview": _json(_obj({"label_config": _text(1), "template": _template(),
                                        "item": {"type": "object", "description": "a sample item's data fields"}},
                                       "item", anyOf=[{"required": ["label_config"]}, {"required": ["template"]}],
                                       **{"not": {"required": ["label_config", "template"]}})),
    "projects_api.change_status": _json(_obj({"status": {"enum": [s.value for s in ProjectStatus]}}, "status"),
                                        "The lifecycle decides which moves are allowed (409 otherwise)."),
    "projects_api.upload": UPLOAD,
    "projects_api.assign_batch": _json(_obj({"usernames": NAMES, "teams": NAMES}),
                                       "Both empty: the batch is open to all annotators again."),
    "projects_api.reconcile": None,
    "projects_api.publish": None,
    "tasks_api.renew": None,
    "tasks_api.skip": _json(_obj({"reason": _text(1, description="shown to managers; cut to 300")}, "reason")),
    "tasks_api.submit": _json(_obj({"result": RESULT, "lead_time": {"type": ["number", "null"],
                                                                    "description": "seconds spent"}}, "result")),
    "qa_api.start": _json(_obj({"batch_id": {"type": ["integer", "null"], "description": "leave out for the whole job"}}),
                          "Optional.", required=False),
    "qa_api.decide": _json(_obj({"label": {"oneOf": [_text(1), _list(_text(1), minItems=1)],
                                           "description": "one of the job's choices (several: a list or a|b)"},
                                 "result": RESULT, "note": {"type": ["string", "null"], "maxLength": 1000}},
                                anyOf=[{"required": ["label"]}, {"required": ["result"]}]),
                           "`result` wins when both are sent; `label` needs a classification job."),
    "exports_api.create": _json(_version(), "Builds the next version of the dataset `name` (default: the job's title)."),
    "exports_api.publish": None,
    "exports_api.request_access": _json(_obj({"message": {"type": ["string", "null"], "maxLength": 1000}})),
    "exports_api.grant": _json(_obj({"buyer": _text(1, description="a buyer's username"),
                                     "status": {"enum": list(DECISIONS), "default": "granted"},
                                     "license_terms": {"type": ["string", "null"], "maxLength": 20_000}}, "buyer")),
    "exports_api.link": None,
    "workforce_api.update_annotator": _json(_obj({
        "skills": {"type": "object", "maxProperties": 50, "propertyNames": _text(1, 60),
                   "additionalProperties": _int(0, MAX_LEVEL), "description": "only the named skills change"},
        "daily_capacity": _int(0, MAX_CAPACITY), "languages": _list(_text(1, 30), maxItems=20)},
        additionalProperties=False)),
    "workforce_api.pause": _json(_obj({"reason": _text(1, description="the annotator sees it; cut to 300")}, "reason")),
    "workforce_api.resume": None,
    "workforce_api.save_team": _json(_obj({"name": _text(1, 80), "usernames": NAMES}, "name", "usernames"),
                                     "Creates the team, or replaces its members."),
    "workforce_api.create_exam": _json(_obj({
        "project_id": _int(), "skill": _text(1, 60), "level": _int(1, MAX_LEVEL, default=1),
        "pass_mark": {"type": "number", "minimum": 0, "maximum": 1, "default": 0.8},
        "cooldown_hours": _int(0, MAX_COOLDOWN_HOURS, default=24),
        "task_ids": _list(_int(), maxItems=MAX_QUESTIONS, description="gold tasks; default: the job's first ones")},
        "project_id", "skill")),
    "workforce_api.exam_answers": _json(_obj({"answers": {"type": "object", "additionalProperties": RESULT,
                                                          "description": "task id -> result, every question once"}},
                                             "answers")),
}


def _query(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


QUERY: dict[str, list[dict[str, Any]]] = {
    "admin_api.list_users": [_query("page", _int(1, default=1), "page of the list, from 1")],
    "tasks_api.next_task": [_query("project_id", _int(), "only tasks of this job")],
    "qa_api.review_queue": [_query("project_id", _int(), "only items of this job")],
    "exports_api.diff": [_query("against", _int(), "the id of the version to compare with", required=True)],
    "workforce_api.work_records": [
        _query("project_id", _int(), "only work on this job (one you manage)"),
        _query("from", {"type": "string", "format": "date"}, "first day, inclusive (China time)"),
        _query("to", {"type": "string", "format": "date"}, "last day, inclusive (China time)"),
        _query("annotator_id", _int(), "only this annotator"),
        _query("format", {"enum": ["json", "csv"], "default": "json"}, "csv: the payroll CSV")],
}
SUCCESS = {"accounts_api.create_token": "201", "accounts_api.add_user": "201", "projects_api.create": "201",
           "projects_api.upload": "202", "projects_api.reconcile": "202", "projects_api.publish": "202",
           "tasks_api.submit": "201", "qa_api.start": "202", "exports_api.create": "202",
           "exports_api.request_access": "201", "exports_api.grant": "201", "workforce_api.save_team": "201",
           "workforce_api.create_exam": "201", "admin_api.add_user": "201", "admin_api.requeue_job": "202"}
# Errors beyond the defaults (401/403 when guarded, 404 with path parameters, 409/422 on writes).
EXTRA_ERRORS = {"accounts_api.create_token": (401, 429), "tasks_api.next_task": (409,),
                "workforce_api.exam_questions": (409,), "exports_api.diff": (409, 422),
                "workforce_api.work_records": (404, 422)}
OBJECT = {"application/json": {"schema": {"type": "object"}}}
CONTENT = {"apidocs.docs_page": {"text/html": {"schema": {"type": "string"}}},
           "workforce_api.work_records": {**OBJECT, "text/csv": {"schema": {"type": "string"}}},
           "downloads.download": {media: {"schema": {"type": "string", "format": "binary"}}
                                  for media in [*dict.fromkeys(MEDIA_TYPES.values()), "application/octet-stream"]}}


# --- the document -----------------------------------------------------------------------------

def roles_of(view: Any) -> list[str] | None:
    """The role values `@requires` recorded on a view; None for a public one, [] for a closed one."""
    if getattr(view, "qianling_public", False):
        return None
    return [role.value for role in getattr(view, "qianling_roles", ())]


def _methods(rule: Rule) -> list[str]:
    return sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})


def _openapi_path(rule: Rule) -> str:
    return _PARAM.sub(lambda m: "{" + m["name"] + "}", rule.rule)


def _path_parameters(rule: Rule) -> list[dict[str, Any]]:
    return [{"name": m["name"], "in": "path", "required": True,
             "schema": dict(_CONVERTERS.get(m["converter"] or "default", _SEGMENT))}
            for m in _PARAM.finditer(rule.rule)]


def _doc(view: Any) -> tuple[str, str]:
    """(summary, description) from the view's docstring; the summary falls back on its name."""
    text = inspect.getdoc(view) or ""
    first, _, rest = text.partition("\n\n")
    summary = " ".join(first.split()) or view.__name__.replace("_", " ").capitalize()
    return summary, rest.strip()


def _error(status: int | None, under_api: bool) -> dict[str, Any]:
    """An error response by status (None: any other); a reference to the shared ones under /api/."""
    if under_api:
        name = next((c.__name__ for c in _ERRORS if c.status == status), "Error")
        return {"$ref": f"#/components/responses/{name}"}
    # Outside /api/ an error is a page unless the client asks for JSON.
    return {"description": ERROR_TEXT.get(status or 0, "Any other error"), "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}},
        "text/html": {"schema": {"type": "string"}}}}


def _responses(rule: Rule, method: str, guarded: bool) -> dict[str, Any]:
    endpoint, under_api = rule.endpoint, rule.rule.startswith("/api/")
    status = SUCCESS.get(endpoint, "200")
    wording = {"200": "OK", "201": "Created",
               "202": "Accepted: the work is queued; follow `status_url` (GET /api/jobs/{job_id})"}
    responses: dict[str, Any] = {status: {"description": wording[status], "content": CONTENT.get(endpoint, OBJECT)}}
    if endpoint == "downloads.download":
        responses |= {"206": {"description": "Part of the file (a Range request)", "content": CONTENT[endpoint]},
                      "304": {"description": "Not modified (If-None-Match)"},
                      "416": {**_error(416, under_api), "description": "The range is outside the file"}}
    errors = set(EXTRA_ERRORS.get(endpoint, ()))
    errors |= {401, 403} if guarded else set()
    errors |= {404} if rule.arguments else set()
    errors |= {409, 422} if method not in SAFE else set()
    if endpoint == "downloads.download":
        errors |= {403}  # an expired link, or access withdrawn since
    responses |= {str(code): _error(code, under_api) for code in sorted(errors)}
    responses["default"] = _error(None, under_api)
    return responses


def _security(endpoint: str, method: str, roles: list[str] | None) -> list[dict[str, list[str]]]:
    if endpoint == "accounts_api.create_token":
        return [{"basicAuth": []}]
    if roles is None:
        return []
    cookie = {"sessionCookie": []} if method in SAFE else {"sessionCookie": [], "csrfToken": []}
    return [{"bearerToken": []}, cookie]


def _operation(app: Flask, rule: Rule, method: str) -> dict[str, Any]:
    view = app.view_functions[rule.endpoint]
    roles = roles_of(view)
    summary, description = _doc(view)
    methods = _methods(rule)
    operation: dict[str, Any] = {
        "tags": [rule.endpoint.rpartition(".")[0] or "app"], "summary": summary,
        "operationId": rule.endpoint if len(methods) == 1 else f"{rule.endpoint}.{method.lower()}"}
    if description:
        operation["description"] = description
    parameters = _path_parameters(rule) + QUERY.get(rule.endpoint, [])
    if parameters:
        operation["parameters"] = parameters
    body = BODIES.get(rule.endpoint)
    if body is not None and method not in SAFE:
        operation["requestBody"] = body
    operation["responses"] = _responses(rule, method, guarded=roles is not None)
    operation["security"] = _security(rule.endpoint, method, roles)
    if roles is None:
        operation["x-public"] = True
    else:
        operation["x-roles"] = roles
    return operation


def _tags(app: Flask, paths: dict[str, Any]) -> list[dict[str, str]]:
    """The blueprints in the order the app registers them, each described by its module's docstring."""
    used = {op["tags"][0] for item in paths.values() for op in item.values()}
    tags = []
    for name, blueprint in app.blueprints.items():
        if name in used:
            module_doc = inspect.getdoc(sys.modules.get(blueprint.import_name)) or ""
            tags.append({"name": name, "description": " ".join(module_doc.partition("\n\n")[0].split())})
    return tags


def _components(app: Flask) -> dict[str, Any]:
    error = {"$ref": "#/components/schemas/Error"}
    responses = {cls.__name__: {"description": f"`{cls.code}`: {ERROR_TEXT[cls.status]}",
                                "content": {"application/json": {"schema": error}}} for cls in _ERRORS}
    responses["Error"] = {"description": "Any other error, e.g. 400 `csrf_failed` or 500 `internal_error`",
                          "content": {"application/json": {"schema": error}}}
    csrf_header = (app.config.get("WTF_CSRF_HEADERS") or ["X-CSRFToken"])[0]
    return {
        "schemas": {"Error": _obj({"error": _text(description="a stable code, e.g. invalid_input"),
                                   "message": _text(description="a sentence naming what to fix"),
                                   "details": {"type": "array"}}, "error", "message"),
                    "LabelStudioRegion": REGION},
        "responses": responses,
        "securitySchemes": {
            "bearerToken": {"type": "http", "scheme": "bearer", "description":
                            "`Authorization: Bearer qlt_...`, a token from POST /api/accounts/tokens; no CSRF token needed."},
            "sessionCookie": {"type": "apiKey", "in": "cookie", "name": app.config["SESSION_COOKIE_NAME"],
                              "description": "The browser session after signing in at /accounts/login."},
            "csrfToken": {"type": "apiKey", "in": "header", "name": csrf_header, "description":
                          "With the session cookie, unsafe methods send the page's <meta name=csrf-token> value."},
            "basicAuth": {"type": "http", "scheme": "basic", "description": "Username and password, to get a token."}},
    }


def build_document(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 description of every route under /api/ and /downloads/, from the URL map."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.rule.startswith(DOCUMENTED):
            item = paths.setdefault(_openapi_path(rule), {})
            for method in _methods(rule):
                item[method.lower()] = _operation(app, rule, method)
    return {"openapi": "3.1.0",
            "info": {"title": "千翎 Qianling API", "version": "1",
                     "description": "Qianling's HTTP API. Errors answer {\"error\": code, \"message\": text}. "
                                    "`x-roles` on an operation lists the roles allowed to call it."},
            "tags": _tags(app, paths), "paths": paths, "components": _components(app)}


# --- the page ---------------------------------------------------------------------------------

def _type_text(schema: dict[str, Any]) -> str:
    """A schema's type as a reader says it: "integer", "array of string", "one of: "a" | "b"."""
    if "const" in schema:
        return json.dumps(schema["const"], ensure_ascii=False)
    if "enum" in schema:
        return "one of: " + " | ".join(json.dumps(v, ensure_ascii=False) for v in schema["enum"])
    if "oneOf" in schema:
        return " | ".join(v.get("title") or _type_text(v) for v in schema["oneOf"])
    kinds = schema.get("type", "any")
    text = " | ".join(kinds) if isinstance(kinds, list) else kinds
    if "array" in text and "items" in schema:
        text = text.replace("array", f"array of {_type_text(schema['items'])}")
    if "object" in text and "additionalProperties" in schema and isinstance(schema["additionalProperties"], dict):
        text = text.replace("object", f"object of {_type_text(schema['additionalProperties'])}")
    return f"{text} ({schema['format']})" if "format" in schema else text


def _limits_text(schema: dict[str, Any]) -> str:
    words = {NOT_BLANK: "not blank", TWO_CHARS: "at least 2 characters besides spaces", r"^$|\S": "empty or not blank"}
    parts = []
    for low, high, unit in (("minimum", "maximum", ""), ("minLength", "maxLength", " characters"),
                            ("minItems", "maxItems", " items"), ("minProperties", "maxProperties", " entries")):
        if low in schema and high in schema:
            parts.append(f"{schema[low]}–{schema[high]}{unit}")
        elif low in schema or high in schema:
            parts.append(f"at least {schema[low]}{unit}" if low in schema else f"at most {schema[high]}{unit}")
    if "pattern" in schema:
        parts.append(words.get(schema["pattern"], f"matches {schema['pattern']}"))
    if "default" in schema:
        parts.append(f"default {json.dumps(schema['default'], ensure_ascii=False)}")
    return "; ".join(parts)


def _body_view(body: dict[str, Any]) -> dict[str, Any]:
    media, content = next(iter(body["content"].items()))
    schema = content["schema"]
    required = set(schema.get("required", ()))
    rows = [{"name": name, "type": _type_text(prop), "required": name in required,
             "limits": _limits_text(prop), "description": prop.get("description", "")}
            for name, prop in schema.get("properties", {}).items()]
    return {"media": media, "required": body.get("required", False), "description": body.get("description", ""),
            "rows": rows, "schema": schema}


def operation_groups(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The document's operations grouped by tag (blueprint), in the document's order, for the page."""
    groups = {tag["name"]: {**tag, "operations": []} for tag in document["tags"]}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            groups[operation["tags"][0]]["operations"].append({
                "method": method.upper(), "path": path, "id": operation["operationId"],
                "roles": operation.get("x-roles"), "summary": operation["summary"],
                "description": operation.get("description", ""), "parameters": [
                    {**p, "type": _type_text(p["schema"]), "limits": _limits_text(p["schema"])}
                    for p in operation.get("parameters", [])],
                "body": _body_view(operation["requestBody"]) if "requestBody" in operation else None,
                "responses": [code for code in operation["responses"] if code != "default"]})
    return [group for group in groups.values() if group["operations"]]


@docs.get("/openapi.json")
@requires(*Role)
def openapi_document():
    """This API as an OpenAPI 3.1 document, built from the routes the app serves now."""
    return build_document(current_app)


@docs.get("/docs")
@requires(*Role)
def docs_page():
    """A page listing every operation of the API: who may call it, and what it takes."""
    document = build_document(current_app)
    return render_template("apidocs.html", groups=operation_groups(document), info=document["info"])
