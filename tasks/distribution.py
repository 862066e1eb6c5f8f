"""Handing out work: the pull queue, with leases on the task's k slots.

An annotator asks for work and gets a lease on the first open task they may label: one of its k
slots is reserved for them until the lease expires (the workspace renews it while they work).
Slots are counted on the task row (`slots_taken` = accepted annotations + live leases) and only
ever taken by a conditional UPDATE, so no task is handed to more than k people at once and none
gets more than k accepted annotations. On PostgreSQL concurrent callers pick candidates with
`FOR UPDATE SKIP LOCKED`, so 200 annotators asking at once do not queue behind one row.
Expired leases are swept (at most every few seconds, under a Redis lock) and their slots freed.

The hot statements are built once, their values bound at execution (`USER`, `PROJECT`, ...):
building one and computing its cache key costs SQLAlchemy more CPU than running it. They run on
the session's connection (`session.connection().execute`): they read and write columns, and
the ORM's per-execution work was half of what a request cost the web app. On PostgreSQL a slot
and its lease are taken in one statement (a data-modifying CTE of the same two statements), as
a submit's claim and count are in `tasks.service`: 8.7 statements a cycle instead of 10.7.
"""
from __future__ import annotations

import functools
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import (DateTime, Insert, Integer, Select, Update, bindparam, exists, func, insert, literal_column,
                        select, update)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from accounts.models import User
from background import upkeep
from errors import Conflict, Forbidden, InvalidInput
from extensions import redis_connection, utcnow
from projects.models import Batch, BatchMember, Project, ProjectStatus
from tasks.models import Assignment, AssignmentStatus, Task
from workforce.models import Exam
from workforce.records import capacity_left_of, workday_start
from workforce.service import any_job_requires_skills, eligibility_filter, pause_reason_of

logger = logging.getLogger(__name__)
SWEEP_EVERY_SECONDS = 5
_SWEEP_TRIED_AT = "qianling.lease_sweep_tried_at"
ATTEMPTS = 8  # candidates tried before answering "nothing for you now" (SQLite races)


USER = bindparam("user_id", type_=Integer)
PROJECT = bindparam("project_id", type_=Integer)
TASK = bindparam("task_id", type_=Integer)
OVERLAP = bindparam("overlap", type_=Integer)
NOW = bindparam("now", type_=DateTime)
DAY_START = bindparam("day_start", type_=DateTime)


@functools.cache
def _take_slot_statement(accepted: bool) -> Update:
    needed = OVERLAP + Task.extra_overlap
    values = {"slots_taken": Task.slots_taken + 1, "is_open": Task.slots_taken + 1 < needed}
    if accepted:
        values["annotation_count"] = Task.annotation_count + 1
    return (update(Task).where(Task.id == TASK, Task.slots_taken < needed).values(**values)
            .execution_options(synchronize_session=False))


def take_slot(session: Session, task_id: int, overlap: int, *, accepted: bool = False) -> bool:
    """Reserve one of the task's slots if one is free (and count an accepted annotation).
    `overlap` is the job's k; QA may have raised this task's own by `extra_overlap`."""
    taken = session.connection().execute(_take_slot_statement(accepted), {"task_id": task_id, "overlap": overlap})
    return taken.rowcount == 1


def free_slot(session: Session, task_id: int) -> None:
    """Give back a slot (gold tasks hold none: anyone may answer them once)."""
    session.execute(update(Task).where(Task.id == task_id, Task.is_gold.is_(False))
                    .values(slots_taken=Task.slots_taken - 1, is_open=True)
                    .execution_options(synchronize_session=False))


@dataclass(frozen=True)
class Requester:
    """What the pull queue checks about the person asking, read in one statement: the lease they
    hold, why they are paused, their capacity left today, and whether job skills matter at all."""
    held_lease_id: int | None
    pause_reason: str | None
    capacity_left: int
    skills_matter: bool

    @classmethod
    def read(cls, session: Session, user: User, project_id: int | None) -> Requester:
        row = session.connection().execute(_requester_statement(project_id is not None), {
            "user_id": user.id, "project_id": project_id, "now": utcnow(), "day_start": workday_start()}).one()
        return cls(row[0], row[1], row[2], bool(row[3]))


@functools.cache
def _requester_statement(by_project: bool) -> Select:
    held = select(Assignment.id).where(Assignment.annotator_id == USER, Assignment.status == AssignmentStatus.LEASED,
                                       Assignment.expires_at > NOW)
    if by_project:
        held = held.where(Assignment.project_id == PROJECT)
    return select(held.order_by(Assignment.id).limit(1).scalar_subquery(), pause_reason_of(USER),
                  capacity_left_of(USER, DAY_START), any_job_requires_skills())


def _exam_questions(session: Session, project_id: int) -> set[int]:
    """Gold tasks used as exam questions: never mixed into the stream, where they would be known."""
    return {task_id for ids in session.scalars(select(Exam.task_ids).where(Exam.project_id == project_id))
            for task_id in ids}


class Candidate(NamedTuple):
    """A task the pull queue may hand out (`id`, `project_id`, `data`: what the annotator sees),
    with the job's settings that decide whether and how: read as plain columns, no entities."""
    id: int
    project_id: int
    data: Any
    overlap: int
    lease_seconds: int
    gold_share: float
    max_tasks_per_annotator: int | None
    max_share_per_annotator: float | None


class Lease(NamedTuple):
    """A lease as the annotator sees it."""
    id: int
    status: AssignmentStatus
    expires_at: datetime


_JOB = (Project.id, Project.overlap, Project.lease_seconds, Project.gold_share, Project.max_tasks_per_annotator,
        Project.max_share_per_annotator)


def _candidate(session: Session, user: User, project_id: int | None, eligible: ColumnElement[bool] | None, *,
               gold: bool = False, excluded: frozenset[int] = frozenset()) -> Candidate | None:
    """The next task for `user`: open, in an active job whose skills they hold (`eligible`,
    None when no job requires any), not yet theirs, in a batch they may work. The jobs are read
    first (a few rows), then each job's tasks by one query on the task table alone, oldest job
    first: a query joining the two let PostgreSQL start from the jobs and sort every open task
    of one when its statistics were off."""
    jobs = select(*_JOB).where(Project.status == ProjectStatus.ACTIVE).order_by(Project.id)
    if project_id is not None:
        jobs = jobs.where(Project.id == project_id)
    if eligible is not None:
        jobs = jobs.where(eligible)
    if excluded:
        jobs = jobs.where(Project.id.not_in(excluded))
    connection = session.connection()
    lock = connection.dialect.name == "postgresql" and not gold
    for job in connection.execute(jobs).all():
        query = _task_statement(gold, lock=lock)
        if gold and (questions := _exam_questions(session, job.id)):
            query = query.where(Task.id.not_in(questions))
        row = connection.execute(query, {"user_id": user.id, "project_id": job.id}).first()
        if row is not None:
            return Candidate(row.id, job.id, row.data, *job[1:])
    return None


@functools.cache
def _task_statement(gold: bool, *, lock: bool) -> Select:
    """A job's next task for a person (`project_id`, `user_id`); on PostgreSQL, regular tasks are
    taken with `FOR UPDATE SKIP LOCKED`. It reads the task table alone, so that PostgreSQL's only
    sensible plan is to walk the job's open tasks (`ix_task_open`, whose predicate `is_open` the
    filter repeats exactly; gold ones: `ix_task_gold`) in id order and stop at the first that
    passes: a few index entries past the ones the person already did, however large the job.

    Each choice below keeps that plan on statistics that are off (stale, or from when the job was
    published), as they are wherever autovacuum is off (tests/integration/test_pull_queue_postgres.py):
    - the order is (job, id), and the job a range, not `=` (PostgreSQL drops a column equal to a
      constant from the order): only the job's index gives it, where the primary key gave id
      order too and PostgreSQL walked the job's done tasks, more with every task done;
    - "not yet theirs" and "in a batch they may work" are probed task by task, their `OFFSET 0`
      keeping PostgreSQL from making them joins (an anti-join scanned the job's whole history);
    - `annotator_id + 0` keeps the probe on the task's few assignments (at most its k slots'
      worth, and any expired or skipped), not on the person's index and all their work."""
    mine = select(Assignment.id).where(Assignment.task_id == Task.id, Assignment.annotator_id + literal_column("0") == USER) \
        .offset(literal_column("0")).exists()
    member = exists().where(BatchMember.batch_id == Batch.id, BatchMember.user_id == USER)
    barred = select(Batch.id).where(Batch.id == Task.batch_id, Batch.restricted.is_(True), ~member) \
        .offset(literal_column("0")).exists()
    query = (select(Task.id, Task.data)
             .where(Task.project_id >= PROJECT, Task.project_id <= PROJECT, Task.ls_task_id.is_not(None), ~mine, ~barred)
             .order_by(Task.project_id, Task.id).limit(1))
    query = query.where(Task.is_gold) if gold else query.where(Task.is_gold.is_(False), Task.is_open)
    return query.with_for_update(skip_locked=True, of=Task) if lock else query


def _done_in(session: Session, user: User, project_id: int) -> int:
    return session.scalar(select(func.count()).select_from(Assignment).where(
        Assignment.annotator_id == user.id, Assignment.project_id == project_id,
        Assignment.status != AssignmentStatus.SKIPPED)) or 0


def _gold_due(done: int, job: Candidate) -> bool:
    """Every n-th task handed to a person is gold, n = 1 / the job's gold share."""
    if job.gold_share <= 0:
        return False
    period = max(2, round(1 / job.gold_share))
    return (done + 1) % period == 0


def _capped(session: Session, done: int, job: Candidate) -> bool:
    """Whether the person, with `done` tasks of the job, reached its cap (a count, or a share of
    its annotations)."""
    caps = []
    if job.max_tasks_per_annotator:
        caps.append(job.max_tasks_per_annotator)
    if job.max_share_per_annotator:
        tasks = session.scalar(select(func.count()).select_from(Task).where(
            Task.project_id == job.project_id, Task.is_gold.is_(False))) or 0
        caps.append(math.ceil(job.max_share_per_annotator * tasks * job.overlap))
    return bool(caps) and done >= min(caps)


EXPIRES = bindparam("expires_at", type_=DateTime)
_LEASED = bindparam("leased", AssignmentStatus.LEASED, type_=Assignment.status.type)
_LEASE = (insert(Assignment).values(task_id=TASK, annotator_id=USER, project_id=PROJECT, status=_LEASED,
                                    leased_at=NOW, expires_at=EXPIRES)
          .returning(Assignment.id))


@functools.cache
def _slot_and_lease_statement() -> Insert:
    """PostgreSQL: `take_slot` and the lease's INSERT in one round trip (a data-modifying CTE):
    no row when the slot went meanwhile, and a unique violation, undoing both, when the person
    asked twice at once. The same statements as on SQLite, which has no such CTEs. It takes no
    `project_id` parameter: SQLAlchemy would turn a parameter named like a column of the task
    table, which the CTE updates, into one more SET of that column."""
    slot = _take_slot_statement(False).returning(Task.id, Task.project_id).cte("slot")
    return (insert(Assignment)
            .from_select(["task_id", "annotator_id", "project_id", "status", "leased_at", "expires_at"],
                         select(slot.c.id, USER, slot.c.project_id, _LEASED, NOW, EXPIRES))
            .returning(Assignment.id))


def _lease(session: Session, user: User, task: Candidate, *, takes_slot: bool) -> Lease | None:
    """Lease `task` to `user`, taking one of its slots if `takes_slot` (gold tasks have none);
    None, rolled back, when the slot went meanwhile or the person asked twice at once."""
    now = utcnow()
    expires_at = now + timedelta(seconds=task.lease_seconds)
    values = {"task_id": task.id, "user_id": user.id, "now": now, "expires_at": expires_at}
    connection = session.connection()
    together = takes_slot and connection.dialect.name == "postgresql"
    if together:
        statement, values["overlap"] = _slot_and_lease_statement(), task.overlap
    else:
        statement, values["project_id"] = _LEASE, task.project_id
        if takes_slot and not take_slot(session, task.id, task.overlap):
            session.rollback()  # someone took the last slot between our read and write
            return None
    try:
        lease_id = connection.execute(statement, values).scalar()
    except IntegrityError:  # the same person asked twice at once: keep one lease
        session.rollback()
        return None
    if lease_id is None:  # (PostgreSQL) the slot went between our read and write
        session.rollback()
        return None
    return Lease(lease_id, AssignmentStatus.LEASED, expires_at)


def _held(session: Session, lease_id: int) -> tuple[Lease, Candidate]:
    lease = session.get(Assignment, lease_id)
    task, project = session.get(Task, lease.task_id), session.get(Project, lease.project_id)
    return (Lease(lease.id, lease.status, lease.expires_at),
            Candidate(task.id, task.project_id, task.data, project.overlap, project.lease_seconds, project.gold_share,
                      project.max_tasks_per_annotator, project.max_share_per_annotator))


def lease_next(session: Session, user: User, project_id: int | None = None) -> tuple[Lease, Candidate] | None:
    """The caller's live lease if they hold one, else a new lease on the next task for them;
    with the task, whose data the caller shows.

    Gold (honeypot) tasks are mixed in at the job's rate and look like any other task; a job
    where the person reached their cap, or whose required skills they lack, is passed over; a
    paused person gets 403 with the reason."""
    sweep_if_due(session)
    requester = Requester.read(session, user, project_id)
    if requester.held_lease_id is not None:
        return _held(session, requester.held_lease_id)
    if requester.pause_reason is not None:
        raise Forbidden(f"your work is paused: {requester.pause_reason}")
    if requester.capacity_left <= 0:
        raise Conflict("you reached your daily capacity; more work tomorrow (a manager can raise it)")
    eligible = eligibility_filter(session, user) if requester.skills_matter else None
    excluded: set[int] = set()
    for _ in range(ATTEMPTS):
        task = _candidate(session, user, project_id, eligible, excluded=frozenset(excluded))
        if task is None:
            return None
        counted = task.gold_share > 0 or task.max_tasks_per_annotator or task.max_share_per_annotator
        done = _done_in(session, user, task.project_id) if counted else 0  # one count for both rules
        if _capped(session, done, task):
            session.rollback()
            excluded.add(task.project_id)
            continue
        if _gold_due(done, task):
            gold = _candidate(session, user, task.project_id, eligible, gold=True)
            if gold is not None:
                session.rollback()  # release the row lock on the regular candidate
                lease = _lease(session, user, gold, takes_slot=False)
                return None if lease is None else (lease, gold)
        lease = _lease(session, user, task, takes_slot=True)
        if lease is not None:
            return lease, task
    return None


def renew(session: Session, user: User, task_id: int) -> Assignment:
    """Extend the caller's live lease on a task (the workspace calls this while they work)."""
    lease = session.scalar(select(Assignment).where(
        Assignment.task_id == task_id, Assignment.annotator_id == user.id,
        Assignment.status == AssignmentStatus.LEASED))
    if lease is None:
        raise Conflict(f"you hold no lease on task {task_id} (it expired or was finished)")
    project = session.get(Project, lease.project_id)
    lease.expires_at = utcnow() + timedelta(seconds=project.lease_seconds)
    return lease


def skip(session: Session, user: User, task_id: int, reason: str) -> Assignment:
    """Give a leased task back, with a reason; it is not offered to this person again."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput("reason: say why the task is skipped (e.g. unreadable, not my field)")
    done = session.execute(update(Assignment).where(
        Assignment.task_id == task_id, Assignment.annotator_id == user.id,
        Assignment.status == AssignmentStatus.LEASED)
        .values(status=AssignmentStatus.SKIPPED, skip_reason=reason[:300], finished_at=utcnow())
        .execution_options(synchronize_session=False))
    if done.rowcount != 1:
        raise Conflict(f"you hold no lease on task {task_id}")
    free_slot(session, task_id)
    return session.scalar(select(Assignment).where(Assignment.task_id == task_id,
                                                   Assignment.annotator_id == user.id))


def expire_leases(session: Session) -> int:
    """Mark leases past their time expired and free their slots; return how many."""
    task_ids = session.scalars(update(Assignment).where(
        Assignment.status == AssignmentStatus.LEASED, Assignment.expires_at < utcnow())
        .values(status=AssignmentStatus.EXPIRED, finished_at=utcnow())
        .returning(Assignment.task_id).execution_options(synchronize_session=False)).all()
    for task_id in task_ids:
        free_slot(session, task_id)
    if task_ids:
        logger.info("event=leases_expired count=%s", len(task_ids))
    return len(task_ids)


def sweep_if_due(session: Session) -> None:
    """Expire old leases at most every few seconds across all processes (a Redis lock); each
    process (each app) asks for the lock at most that often too, not on every request. The
    sweep also asks for the tables' upkeep when it is due (`background.upkeep`): a platform
    busy enough to need it sweeps."""
    now = time.monotonic()
    if now - current_app.extensions.get(_SWEEP_TRIED_AT, float("-inf")) < SWEEP_EVERY_SECONDS:
        return
    current_app.extensions[_SWEEP_TRIED_AT] = now
    if redis_connection().set("qianling:lease-sweep", "1", nx=True, ex=SWEEP_EVERY_SECONDS):
        expire_leases(session)
        session.commit()
        upkeep.queue_if_due()
