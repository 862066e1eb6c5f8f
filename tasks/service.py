"""Taking submissions: an annotation is accepted only from the annotator holding the task's lease.

Together with `tasks.distribution` this keeps the workforce rules in the database: a task ends
with at most k accepted annotations from k distinct people, under any concurrency. A submission
after the lease expired is accepted if a slot is still free, and otherwise kept with the status
`extra` (never counted, never silently dropped).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import JSON, Integer, Update, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounts.models import User
from errors import Conflict, NotFound
from extensions import utcnow
from projects.label_config import parse
from projects.models import Project, ProjectStatus
from qa import gold
from tasks import results
from tasks.distribution import NOW, TASK, USER, Candidate, Lease, take_slot
from tasks.models import (
    Annotation,
    AnnotationStatus,
    Assignment,
    AssignmentStatus,
    Task,
)


# Built once, values bound at execution (see tasks.distribution).
_ASSIGNED = (select(Task, Project, Assignment).join(Project, Project.id == Task.project_id)
             .join(Assignment, (Assignment.task_id == Task.id) & (Assignment.annotator_id == USER))
             .where(Task.id == TASK, Project.status == ProjectStatus.ACTIVE))
# What a submission needs of the task, its job and the caller's lease: plain columns, no entities.
_SUBMITTABLE = (select(Task.is_gold, Task.gold_answer, Project.id.label("project_id"), Project.label_config,
                       Project.overlap, Project.guidelines_version, Assignment.id.label("lease_id"),
                       Assignment.status.label("lease_status"))
                .join(Project, Project.id == Task.project_id)
                .join(Assignment, (Assignment.task_id == Task.id) & (Assignment.annotator_id == USER))
                .where(Task.id == TASK, Project.status == ProjectStatus.ACTIVE))
_SUBMITTED = {"status": AssignmentStatus.SUBMITTED, "finished_at": NOW}
_LEASE = bindparam("lease_id", type_=Integer)
_CLAIM_HELD = (update(Assignment).where(Assignment.id == _LEASE, Assignment.status == AssignmentStatus.LEASED)
               .values(_SUBMITTED).execution_options(synchronize_session=False))
_CLAIM_ANY = update(Assignment).where(Assignment.id == _LEASE).values(_SUBMITTED) \
    .execution_options(synchronize_session=False)
_COUNT = (update(Task).values(annotation_count=Task.annotation_count + 1)
          .returning(Task.annotation_count, Task.extra_overlap).execution_options(synchronize_session=False))
_COUNT_ACCEPTED = _COUNT.where(Task.id == TASK)


@functools.cache
def _claim_held_and_count_statement() -> Update:
    """PostgreSQL: `_CLAIM_HELD` then `_COUNT_ACCEPTED` in one round trip (a data-modifying CTE);
    no row when the lease is no longer held. The same statements as on SQLite, which has no such
    CTEs. Its only parameters are `lease_id` and `now`: SQLAlchemy would turn a parameter named
    like a column of a table a CTE updates (`task_id`) into one more SET of that column."""
    claimed = _CLAIM_HELD.returning(Assignment.task_id).cte("claimed")
    return _COUNT.where(Task.id == claimed.c.task_id)


_ANNOTATION = (insert(Annotation).values(
    task_id=TASK, annotator_id=USER, result=bindparam("result", type_=JSON), status=bindparam("status"),
    label=bindparam("label"), gold_correct=bindparam("gold_correct"), lead_time=bindparam("lead_time"),
    guidelines_version=bindparam("guidelines_version"), created_at=NOW).returning(Annotation.id))


def assigned_task(session: Session, user: User, task_id: int) -> tuple[Task, Project, Assignment]:
    """A task handed to `user` in an active job; NotFound for anything else (no probing)."""
    row = session.execute(_ASSIGNED, {"user_id": user.id, "task_id": task_id}).first()
    if row is None:
        raise NotFound(f"task {task_id} not found among your assignments")
    return row.Task, row.Project, row.Assignment


@dataclass(frozen=True)
class Claim:
    """How a lease turned into an annotation: its status, and whether it may have been the one
    that gave its task all k annotations (then the task's batch may be ready for QA)."""
    status: AnnotationStatus
    may_complete_task: bool


def claim_lease(session: Session, *, task_id: int, is_gold: bool, overlap: int, lease_id: int,
                lease_status: AssignmentStatus) -> Claim:
    """Turn the caller's lease into an accepted annotation, or `extra` when its slot is gone;
    `overlap` is the job's k."""
    if lease_status == AssignmentStatus.SUBMITTED:
        raise Conflict(f"you have already annotated task {task_id}")
    if lease_status == AssignmentStatus.SKIPPED:
        raise Conflict(f"you skipped task {task_id}; it is no longer yours")
    connection = session.connection()
    claim, task = {"lease_id": lease_id, "now": utcnow()}, {"task_id": task_id}
    # The count as it is once ours is in (the row lock orders concurrent submits), so of the
    # last two submits at once exactly the later sees its task complete.
    if connection.dialect.name == "postgresql":  # claim and count in one round trip
        counted = connection.execute(_claim_held_and_count_statement(), claim).first()
    elif connection.execute(_CLAIM_HELD, claim).rowcount == 1:
        counted = connection.execute(_COUNT_ACCEPTED, task).one()
    else:
        counted = None
    if counted is None and is_gold:  # gold tasks have no slots: an expired lease still counts
        connection.execute(_CLAIM_ANY, claim)
        counted = connection.execute(_COUNT_ACCEPTED, task).one()
    if counted is not None:  # the slot is ours
        count, needed = counted
        return Claim(AnnotationStatus.ACCEPTED, not is_gold and count >= overlap + needed)
    # The lease expired and its slot was freed: take a free slot again if there is one.
    connection.execute(_CLAIM_ANY, claim)
    if take_slot(session, task_id, overlap, accepted=True):
        return Claim(AnnotationStatus.ACCEPTED, True)
    return Claim(AnnotationStatus.EXTRA, False)


@dataclass(frozen=True)
class Submission:
    """A stored annotation (`id`, `label`, `status`), with what the caller does next: queue its
    delivery to the job's Label Studio project, and check its batch for QA when the task may be
    complete."""
    id: int
    label: str | None
    status: AnnotationStatus
    project_id: int
    may_complete_task: bool


def submit(session: Session, user: User, task_id: int, result: Any,
           lead_time: float | None = None) -> Submission:
    """Store `user`'s annotation of a task they were handed. The caller commits, then queues
    delivery to Label Studio (extras are kept here only). Columns, not entities, are read and
    written: this runs for every submission."""
    task = session.connection().execute(_SUBMITTABLE, {"user_id": user.id, "task_id": task_id}).first()
    if task is None:
        raise NotFound(f"task {task_id} not found among your assignments")
    config = parse(task.label_config)
    checked = results.validate(config, result)
    claim = claim_lease(session, task_id=task_id, is_gold=task.is_gold, overlap=task.overlap,
                        lease_id=task.lease_id, lease_status=task.lease_status)
    label = results.primary_label(config, checked)
    gold_correct = gold.grade(config, task, label)
    try:
        annotation_id = session.connection().execute(_ANNOTATION, {
            "task_id": task_id, "user_id": user.id, "result": checked, "status": claim.status, "label": label,
            "gold_correct": gold_correct, "lead_time": lead_time, "guidelines_version": task.guidelines_version,
            "now": utcnow()}).scalar_one()
    except IntegrityError:  # two submits of one lease at once: the first one won
        session.rollback()
        raise Conflict(f"you have already annotated task {task_id}") from None
    if gold_correct is not None:
        gold.pause_if_below_bar(session, user, session.get(Project, task.project_id))
    return Submission(annotation_id, label, claim.status, task.project_id, claim.may_complete_task)


def task_json(task: Task | Candidate, lease: Assignment | Lease | None = None) -> dict[str, Any]:
    """What an annotator may see of a task: its id, job, data and lease; never gold answers."""
    body: dict[str, Any] = {"id": task.id, "project_id": task.project_id, "data": task.data}
    if lease is not None:
        body["lease"] = {"status": lease.status.value, "expires_at": lease.expires_at.isoformat() + "Z"}
    return body
