"""Gold (honeypot) answers: grade each one on submit, and pause annotators who fall below the bar.

A job's `min_gold_accuracy` is the bar and `min_gold_answers` the number of gold tasks an annotator
must have answered before it applies, so one early slip never pauses anybody. Pausing is the
workforce's ordinary pause with the reason spelled out: the annotator sees it in their workspace
and the manager in the annotator list.
"""
from __future__ import annotations

import logging

from sqlalchemy import Integer, cast, func, select
from sqlalchemy.orm import Session

from accounts.models import User
from projects.label_config import LabelConfig
from projects.models import Project
from tasks.models import Annotation, Task
from tasks.results import gold_label
from workforce.service import is_paused, pause

logger = logging.getLogger(__name__)


def grade(config: LabelConfig, task: Task, label: str | None) -> bool | None:
    """Whether a gold task's answer matches its known answer; None when it cannot be graded."""
    if not task.is_gold:
        return None
    expected = gold_label(config, task.gold_answer)
    return None if expected is None or label is None else label == expected


def gold_records(session: Session, project_id: int, user_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Per annotator who answered gold tasks of the job: (answered, answered right)."""
    rows = session.execute(
        select(Annotation.annotator_id, func.count(Annotation.id),
               func.coalesce(func.sum(cast(Annotation.gold_correct, Integer())), 0))
        .join(Task, Task.id == Annotation.task_id)
        .where(Annotation.annotator_id.in_(user_ids), Task.project_id == project_id,
               Annotation.gold_correct.is_not(None))
        .group_by(Annotation.annotator_id)).all()
    return {int(user): (int(answered), int(right)) for user, answered, right in rows}


def pause_if_below_bar(session: Session, user: User, project: Project) -> bool:
    """Pause `user` when their gold accuracy in the job is under its bar; True if it did."""
    if project.min_gold_accuracy <= 0:
        return False
    answered, right = gold_records(session, project.id, [user.id]).get(user.id, (0, 0))
    if answered < project.min_gold_answers or right / answered >= project.min_gold_accuracy:
        return False
    if is_paused(session, user) is not None:
        return False
    reason = (f"金标准确率 {right}/{answered} 低于「{project.title}」要求的 {project.min_gold_accuracy:.0%} / "
              f"gold accuracy {right}/{answered} is below the {project.min_gold_accuracy:.0%} "
              f"this job requires; a manager can resume you after a review")
    pause(session, user, reason)
    logger.info("event=gold_pause user_id=%s project_id=%s answered=%s right=%s",
                user.id, project.id, answered, right)
    return True
