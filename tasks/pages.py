"""The annotator's workspace: the `/work` page, and the one JSON call only that page needs.

The page takes its work from the annotator API (`/api/tasks/...`: next, renew, skip, submit) and
mounts the Label Studio editor on each task it is handed. What the editor needs besides the
task's data — the job's label config, its guidelines, its title — comes from
`GET /work/api/tasks/<id>/context`, answered only for a task handed to the caller (404 otherwise,
so ids cannot be probed). Neither sends gold answers: nothing here reads them.
"""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, current_app, render_template, url_for

from accounts.auth import current_user, requires
from accounts.models import Role
from extensions import db, utcnow
from projects.pages import render_markdown
from projects.service import current_guidelines
from tasks.models import AssignmentStatus
from tasks.service import assigned_task
from vendor import LABEL_STUDIO_VERSION

workspace_pages = Blueprint("workspace_pages", __name__, url_prefix="/work")
# The API that reports an annotator's own counts and earnings (the workforce package).
STATS_ENDPOINT = "workforce_api.me"


@workspace_pages.get("")
@requires(Role.ANNOTATOR)
def workspace():
    """The queue page: Start, the editor on the task handed out, guidelines, Skip, own counts."""
    # The counts panel shows only when the app has the endpoint behind it; otherwise it says so.
    stats_url = url_for(STATS_ENDPOINT) if STATS_ENDPOINT in current_app.view_functions else ""
    return render_template("tasks/workspace.html", stats_url=stats_url,
                           label_studio_version=LABEL_STUDIO_VERSION)


@workspace_pages.get("/api/tasks/<int:task_id>/context")
@requires(Role.ANNOTATOR)
def task_context(task_id: int):
    """What the editor needs for a task handed to the caller: config, guidelines, job title, lease."""
    task, project, lease = assigned_task(db.session, current_user(), task_id)
    guidelines = current_guidelines(db.session, project)
    return {
        "task_id": task.id, "project_id": project.id, "project_title": project.title,
        "config": project.label_config,
        "guidelines_markdown_html": str(render_markdown(guidelines)) if guidelines.strip() else "",
        "guidelines_version": project.guidelines_version, "piece_rate": str(project.piece_rate),
        # Seconds, not a clock time: the page counts down on its own clock, which may be off.
        "lease": {"status": lease.status.value, "seconds": project.lease_seconds,
                  "expires_in": _seconds_left(lease.expires_at) if lease.status == AssignmentStatus.LEASED else 0},
    }


def _seconds_left(expires_at: datetime) -> float:
    return max(0.0, round((expires_at - utcnow()).total_seconds(), 1))
