"""QA pages: a job's quality (per-batch agreement, annotator heatmap, confusion matrices, scores)
for its manager, and the review queue for reviewers. Server-rendered from `qa.service` and
`qa.review`; the one script (static/js/review.js) posts decisions to the API."""
from __future__ import annotations

from flask import Blueprint, render_template, request
from sqlalchemy import select

from accounts.auth import current_user, requires
from accounts.models import Role, User
from extensions import db
from projects.models import Batch
from projects.service import managed_project, project_json
from qa import review, service
from qa.models import QARun

pages = Blueprint("qa_pages", __name__, url_prefix="/qa")


@pages.get("/projects/<int:project_id>")
@requires(Role.MANAGER, Role.ADMIN)
def quality(project_id: int):
    """A job's quality: the latest run of each batch and of the job; one run's details below."""
    project = managed_project(db.session, current_user(), project_id)
    latest = service.latest_runs(db.session, project)
    numbers = dict(db.session.execute(
        select(Batch.id, Batch.number).where(Batch.project_id == project.id)).all())
    chosen_id = request.args.get("run", type=int) or (latest[0].id if latest else None)
    chosen = db.session.get(QARun, chosen_id) if chosen_id else None
    if chosen is not None and chosen.project_id != project.id:
        chosen = None
    detail = service.run_detail(db.session, chosen) if chosen else None
    names = _usernames(detail)
    return render_template("qa/quality.html", job=project_json(db.session, project), runs=latest,
                           batch_numbers=numbers, run=detail, names=names,
                           review_count=review.open_count(db.session, current_user(), [project.id]))


def _usernames(detail: dict | None) -> dict[str, str]:
    """Annotator id (as the run's figures key them) -> username, for the heatmap and matrices."""
    if not detail:
        return {}
    ids = {int(a) for a in detail["metrics"].get("matrix", {}).get("annotators", [])}
    ids |= {int(a) for a in detail["metrics"].get("confusion", {})}
    rows = db.session.execute(select(User.id, User.username).where(User.id.in_(ids))).all()
    return {str(i): name for i, name in rows}


@pages.get("/review")
@requires(Role.REVIEWER, Role.MANAGER, Role.ADMIN)
def review_queue():
    """The open review items the user may decide, most disputed first."""
    items = review.open_items(db.session, current_user(), request.args.get("project_id", type=int))
    return render_template("qa/review.html", items=items)
