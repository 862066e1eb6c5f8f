"""Background publishing of a job to Label Studio: its project, then its tasks in chunks.

Resumable and idempotent: the Label Studio project is found again by the mark in its
description, and before importing anything the job compares what Label Studio already holds with
what we recorded, so a crash between an import and our commit never duplicates tasks.
"""
from __future__ import annotations

import logging

from sqlalchemy import func, select, update

from background.runner import report_progress
from background.upkeep import refresh_statistics
from extensions import db
from labelstudio.gateway import Gateway
from labelstudio.models import installation_uid
from projects.models import Project, ProjectStatus
from tasks.models import Task

logger = logging.getLogger(__name__)
CHUNK = 500  # tasks per import call: far under Label Studio's upload limits


def publish_to_label_studio(project_id: int) -> int:
    """Create the job's Label Studio project if needed and push every unpushed task; return count."""
    with Gateway.from_app() as gateway, db.new_session() as session:
        project = session.get(Project, project_id)
        if project is None:
            raise LookupError(f"project {project_id} does not exist")
        if project.ls_project_id is None:
            key = f"{installation_uid(session)}:{project.id}"
            project.ls_project_id = gateway.find_project(key) or gateway.create_project(
                key, project.title, project.label_config, project.overlap)
            session.commit()
        ls_project = project.ls_project_id
        pushed = session.scalar(select(func.count(Task.id)).where(
            Task.project_id == project_id, Task.ls_task_id.is_not(None)))
        if gateway.task_count(ls_project) > pushed:
            _record(session, gateway.existing_tasks(ls_project))  # an earlier run died mid-import
        pending = session.scalar(select(func.count(Task.id)).where(
            Task.project_id == project_id, Task.ls_task_id.is_(None)))
        pushed_now, after = 0, 0
        while True:  # keyset pages: a million pending tasks never sit in memory at once
            chunk = session.execute(select(Task.id, Task.data).where(
                Task.project_id == project_id, Task.ls_task_id.is_(None), Task.id > after)
                .order_by(Task.id).limit(CHUNK)).all()
            if not chunk:
                break
            _record(session, gateway.import_tasks(ls_project, [(row.id, row.data) for row in chunk]))
            pushed_now, after = pushed_now + len(chunk), chunk[-1].id
            report_progress(pushed_now, pending, "pushing tasks to Label Studio")
        if project.status == ProjectStatus.DRAFT:
            project.status = ProjectStatus.ACTIVE
        session.commit()
        if pushed_now:  # plan the pull queue on the tasks as pushed, not as they were imported
            refresh_statistics(session, Task)
        logger.info("event=project_published project_id=%s ls_project=%s pushed=%s",
                    project_id, ls_project, pushed_now)
        return pushed_now


def _record(session, mapping: dict[int, int]) -> None:
    if mapping:  # one executemany UPDATE by primary key
        session.execute(update(Task), [{"id": our, "ls_task_id": ls} for our, ls in mapping.items()])
    session.commit()
