"""`/api/jobs/<id>`: the status and progress of one piece of background work."""
from __future__ import annotations

from flask import Blueprint

from accounts.auth import current_user, requires
from accounts.models import Role
from background.models import JobRecord
from errors import NotFound
from extensions import db

api = Blueprint("jobs_api", __name__, url_prefix="/api/jobs")


@api.get("/<int:job_id>")
@requires(*Role)
def job_status(job_id: int):
    record = db.session.get(JobRecord, job_id)
    user = current_user()
    # Staff see every job; others only the jobs they started (no probing of ids).
    if record is None or (user.role not in (Role.ADMIN, Role.MANAGER) and record.created_by_id != user.id):
        raise NotFound(f"job {job_id} not found")
    return record.to_json()
