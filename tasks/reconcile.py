"""Reconciling with Label Studio: pull back what people did there directly, flag what they shouldn't.

Label Studio's own UI stays open to its users (a manager correcting an annotation, say). A
reconcile job reads the job's annotations from Label Studio in one export and:
- takes edits of annotations we delivered (matched by our id, carried as `import_id`) into ours;
- takes annotations made there by the annotator a task was handed to as theirs (through the same
  lease rules as a submission: a slot is still needed);
- flags every other annotation (a user the task was not handed to, or no Qianling user at all).
Idempotent: a rerun changes nothing more and flags nothing twice.
"""
from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import User
from errors import Conflict, InvalidInput
from extensions import db, utcnow
from labelstudio.gateway import Gateway
from projects.label_config import parse
from projects.models import Project
from tasks import results
from tasks.models import Annotation, Assignment, ReconcileFlag, Task
from tasks.service import claim_lease

logger = logging.getLogger(__name__)


def reconcile_project(project_id: int) -> dict[str, int]:
    """Reconcile one job with its Label Studio project; return counts of what changed."""
    with Gateway.from_app() as gateway, db.new_session() as session:
        project = session.get(Project, project_id)
        if project is None or project.ls_project_id is None:
            raise LookupError(f"project {project_id} is not in Label Studio")
        exported = gateway.export_annotations(project.ls_project_id)
        counts = _Reconciler(session, project).run(exported)
        session.commit()
        logger.info("event=reconciled project_id=%s %s", project_id,
                    " ".join(f"{k}={v}" for k, v in counts.items()))
        return counts


class _Reconciler:
    def __init__(self, session: Session, project: Project) -> None:
        self.session, self.project = session, project
        self.config = parse(project.label_config)
        self.tasks = {ls: task for task, ls in session.execute(
            select(Task, Task.ls_task_id).where(Task.project_id == project.id, Task.ls_task_id.is_not(None)))}
        annotations = session.scalars(select(Annotation).join(Task, Task.id == Annotation.task_id)
                                      .where(Task.project_id == project.id)).all()
        self.by_id = {a.id: a for a in annotations}
        self.by_ls_id = {a.ls_annotation_id: a for a in annotations if a.ls_annotation_id}
        self.flagged = set(session.scalars(select(ReconcileFlag.ls_annotation_id)
                                           .where(ReconcileFlag.project_id == project.id)))
        self.users = dict(session.execute(select(User.ls_user_id, User.id).where(User.ls_user_id.is_not(None))).all())
        self.counts = {"edited": 0, "imported": 0, "flagged": 0}

    def run(self, exported: dict[int, list[dict[str, Any]]]) -> dict[str, int]:
        for ls_task_id, found in exported.items():
            task = self.tasks.get(ls_task_id)
            for item in found if task is not None else []:
                if not item["was_cancelled"]:
                    self._one(task, item)
        return self.counts

    def _one(self, task: Task, item: dict[str, Any]) -> None:
        ours = self.by_ls_id.get(item["id"]) or self.by_id.get(item["import_id"] or -1)
        if ours is not None and ours.task_id == task.id:
            if item["result"] and item["result"] != ours.result:
                ours.result, ours.edited_in_ls_at = item["result"], utcnow()
                ours.label = results.primary_label(self.config, item["result"])
                self.counts["edited"] += 1
            return
        if item["id"] in self.flagged:
            return
        user_id = self.users.get(item["completed_by"])
        reason = self._take_in(task, item, user_id) if user_id else "made in Label Studio by a user unknown to Qianling"
        if reason:
            self.session.add(ReconcileFlag(project_id=self.project.id, task_id=task.id, ls_annotation_id=item["id"],
                                           ls_user_id=item["completed_by"], user_id=user_id, reason=reason))
            self.flagged.add(item["id"])
            self.counts["flagged"] += 1

    def _take_in(self, task: Task, item: dict[str, Any], user_id: int) -> str | None:
        """Store an annotation made in Label Studio by the person the task was handed to; else
        say why it is flagged."""
        lease = self.session.scalar(select(Assignment).where(Assignment.task_id == task.id,
                                                             Assignment.annotator_id == user_id))
        if lease is None:
            return "made in Label Studio by a user the task was not handed to"
        try:
            checked = results.validate(self.config, item["result"])
            status = claim_lease(self.session, task_id=task.id, is_gold=task.is_gold, overlap=self.project.overlap,
                                 lease_id=lease.id, lease_status=lease.status).status
        except (Conflict, InvalidInput) as err:  # flagged, not imported
            return f"made in Label Studio, not accepted: {err.message}"
        annotation = Annotation(task_id=task.id, annotator_id=user_id, result=checked, status=status,
                                label=results.primary_label(self.config, checked), ls_annotation_id=item["id"],
                                delivered_at=utcnow(), guidelines_version=self.project.guidelines_version)
        self.session.add(annotation)
        self.session.flush()
        self.by_ls_id[item["id"]] = annotation
        self.counts["imported"] += 1
        return None
