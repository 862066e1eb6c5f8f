"""QA API: start runs over a job or batch, read their figures and scores, work the review queue."""
from __future__ import annotations

from flask import Blueprint, request

from accounts.auth import current_user, requires
from accounts.models import Role
from errors import InvalidInput, NotFound, json_object
from extensions import db
from projects.service import managed_project
from qa import review, service
from qa.models import QARun

api = Blueprint("qa_api", __name__, url_prefix="/api/qa")
STAFF = (Role.MANAGER, Role.ADMIN)
REVIEWERS = (Role.REVIEWER, Role.MANAGER, Role.ADMIN)


@api.post("/projects/<int:project_id>/runs")
@requires(*STAFF)
def start(project_id: int):
    """Start a run over the whole job, or over one batch with {"batch_id": n}."""
    user = current_user()
    batch_id = json_object(optional=True).get("batch_id")
    if batch_id is not None and (not isinstance(batch_id, int) or isinstance(batch_id, bool)):
        raise InvalidInput("batch_id: a batch id of this job, or leave it out for the whole job")
    project = managed_project(db.session, user, project_id)
    run, job = service.start_run(db.session, project, batch_id, user=user)
    return {"run": service.run_json(run), "job": job.to_json(), "status_url": f"/api/jobs/{job.id}"}, 202


@api.get("/projects/<int:project_id>/runs")
@requires(*STAFF)
def latest(project_id: int):
    """The latest finished run of each batch and of the whole job."""
    project = managed_project(db.session, current_user(), project_id)
    return {"runs": [service.run_json(run) for run in service.latest_runs(db.session, project)]}


@api.get("/runs/<int:run_id>")
@requires(*STAFF)
def get_run(run_id: int):
    run = db.session.get(QARun, run_id)
    if run is None:
        raise NotFound(f"QA run {run_id} not found")
    managed_project(db.session, current_user(), run.project_id)  # 404 unless theirs
    return service.run_detail(db.session, run)


@api.get("/review")
@requires(*REVIEWERS)
def review_queue():
    """Open review items, most disputed first (optionally ?project_id=n)."""
    return {"items": review.open_items(db.session, current_user(), request.args.get("project_id", type=int))}


@api.post("/review/<int:item_id>")
@requires(*REVIEWERS)
def decide(item_id: int):
    """The final decision on an item: {"label": "…"} or {"result": [...]}, optional "note"."""
    item = review.decide(db.session, current_user(), item_id, request.get_json(silent=True))
    db.session.commit()
    return {"id": item.id, "task_id": item.task_id, "status": item.status.value, "label": item.label}
