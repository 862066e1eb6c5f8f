"""Manager API for QA: start a run over a job, read a run's figures."""
from __future__ import annotations

from flask import Blueprint

from accounts.auth import current_user, requires
from accounts.models import Role
from errors import NotFound
from extensions import db
from projects.service import managed_project
from qa import service
from qa.models import QARun

api = Blueprint("qa_api", __name__, url_prefix="/api/qa")
STAFF = (Role.MANAGER, Role.ADMIN)


@api.post("/projects/<int:project_id>/runs")
@requires(*STAFF)
def start(project_id: int):
    user = current_user()
    run, job = service.start_run(db.session, user, managed_project(db.session, user, project_id))
    return {"run": service.run_json(run), "job": job.to_json(), "status_url": f"/api/jobs/{job.id}"}, 202


@api.get("/runs/<int:run_id>")
@requires(*STAFF)
def get_run(run_id: int):
    run = db.session.get(QARun, run_id)
    if run is None:
        raise NotFound(f"QA run {run_id} not found")
    managed_project(db.session, current_user(), run.project_id)  # 404 unless theirs
    return service.run_json(run)
