"""`/api/admin/...`: user administration, the system's state and re-queueing failed jobs (admins).

Thin routes: parse, call `admin.users` / `admin.status` / `accounts.service`, serialise. Field
errors are 422 naming the field; the self and last-admin guards are 409.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, request

from accounts.auth import current_user, requires
from accounts.models import Role
from accounts.service import create_user
from admin import status, users
from errors import InvalidInput, json_object
from extensions import db, redis_connection

api = Blueprint("admin_api", __name__, url_prefix="/api/admin")
_FIELDS = ("username", "email", "password", "role", "display_name")


def _text(body: dict[str, Any], field: str) -> str:
    value = body.get(field, "")
    if not isinstance(value, str):
        raise InvalidInput(f"{field}: send a string")
    return value.strip() if field != "password" else value


@api.get("/users")
@requires(Role.ADMIN)
def list_users():
    page = request.args.get("page", 1, type=int) or 1
    rows, total = users.list_users(db.session, page)
    return {"users": [row.to_json() for row in rows], "total": total, "page": page,
            "per_page": users.PAGE_SIZE}


@api.post("/users")
@requires(Role.ADMIN)
def add_user():
    body = json_object()
    fields = {field: _text(body, field) for field in _FIELDS}
    users.parse_role(fields["role"])  # "role: ..." rather than the service's generic wording
    user = create_user(db.session, **fields)
    db.session.commit()
    return users.user_row(db.session, user).to_json(), 201


@api.get("/users/<int:user_id>")
@requires(Role.ADMIN)
def show_user(user_id: int):
    return users.user_row(db.session, users.get_user(db.session, user_id)).to_json()


@api.patch("/users/<int:user_id>")
@requires(Role.ADMIN)
def update_user(user_id: int):
    """Change `role` and/or `is_active`; other fields are refused by name."""
    body = json_object()
    unknown = sorted(set(body) - {"role", "is_active"})
    if unknown or not body:
        raise InvalidInput(f"{(unknown or ['body'])[0]}: only 'role' and 'is_active' can be changed here")
    user, actor = users.get_user(db.session, user_id), current_user()
    if "role" in body:
        users.change_role(db.session, actor, user, body["role"])
    if "is_active" in body:
        users.set_active(db.session, actor, user, body["is_active"])
    db.session.commit()
    return users.user_row(db.session, user).to_json()


@api.get("/system")
@requires(Role.ADMIN)
def system_state():
    """Services, RQ workers and queues, and the latest failed jobs."""
    rq = status.redis_overview(redis_connection())
    rq["workers"] = [status.worker_json(worker) for worker in rq["workers"]]
    return {"services": status.services(), "rq": rq,
            "failed_jobs": [status.failed_job_json(r) for r in status.failed_records(db.session)]}


@api.post("/jobs/<int:job_id>/requeue")
@requires(Role.ADMIN)
def requeue_job(job_id: int):
    record = status.requeue_failed(db.session, job_id, redis_connection())
    return {"job": record.to_json(), "status_url": f"/api/jobs/{record.id}"}, 202
