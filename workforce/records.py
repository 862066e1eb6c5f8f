"""Work records: per annotator per day, what they did and what they earned, and the payroll CSV.

A day is a calendar day in China Standard Time (UTC+8, no daylight saving), the workforce's own
calendar; timestamps are stored in UTC. Counts are grouped in the database (one row per
annotator, job and day), so a month of a large workforce stays a small result; money is summed
here in Decimal. Earnings are accepted annotations × the job's piece rate: extras are kept but
never paid, and gold items in the stream are paid like any other (the annotator cannot tell
them apart, and payroll must not reveal them).
"""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Date, Select, case, cast, func, select
from sqlalchemy.orm import Session

from accounts.models import User
from errors import InvalidInput
from extensions import utcnow
from projects.models import Project
from tasks.models import Annotation, AnnotationStatus, Assignment, AssignmentStatus, Task
from workforce.models import DEFAULT_DAILY_CAPACITY, AnnotatorProfile

WORKDAY_UTC_OFFSET = timedelta(hours=8)  # China Standard Time
CENT = Decimal("0.01")
CSV_HEADER = ("日期 date", "标注员编号 annotator_id", "用户名 username", "姓名 display_name",
              "有效标注 accepted", "超额标注 extra", "跳过 skipped", "平均用时(秒) mean_lead_time_s",
              "收入(元) earnings_cny")


@dataclass
class DayRecord:
    """One annotator's work on one day (across the jobs in scope)."""

    annotator_id: int
    day: str  # ISO date in China Standard Time
    accepted: int = 0
    extra: int = 0
    skipped: int = 0
    lead_time_sum: float = 0.0
    lead_time_count: int = 0
    earnings: Decimal = Decimal("0.00")

    @property
    def mean_lead_time(self) -> float | None:
        return round(self.lead_time_sum / self.lead_time_count, 1) if self.lead_time_count else None


@dataclass(frozen=True)
class Scope:
    """Which work counts: optional job, jobs of one manager, annotator, and day range (inclusive)."""

    project_id: int | None = None
    manager_id: int | None = None
    annotator_id: int | None = None
    start: date | None = None
    end: date | None = None


def parse_day(field: str, value: str | None) -> date | None:
    """An ISO date from a query parameter, or None when absent."""
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{field}: {value!r} is not a date such as 2025-03-31") from None


def today() -> date:
    return (utcnow() + WORKDAY_UTC_OFFSET).date()


def _day_start_utc(day: date) -> datetime:
    return datetime.combine(day, time()) - WORKDAY_UTC_OFFSET


def _local_day(session: Session, column):
    """The China Standard Time date of a UTC timestamp column, in SQLite's or PostgreSQL's SQL."""
    if session.get_bind().dialect.name == "sqlite":
        return func.date(column, f"+{int(WORKDAY_UTC_OFFSET.total_seconds())} seconds")
    return cast(column + WORKDAY_UTC_OFFSET, Date)


def _scoped(query: Select, scope: Scope, when: ColumnElement, who: ColumnElement,
            project: ColumnElement) -> Select:
    """`query` (which joins Project) narrowed to `scope`: `when` a UTC timestamp column, `who`
    the annotator's and `project` the job's id column."""
    if scope.project_id is not None:
        query = query.where(project == scope.project_id)
    if scope.manager_id is not None:
        query = query.where(Project.created_by_id == scope.manager_id)
    if scope.annotator_id is not None:
        query = query.where(who == scope.annotator_id)
    if scope.start is not None:
        query = query.where(when >= _day_start_utc(scope.start))
    if scope.end is not None:
        query = query.where(when < _day_start_utc(scope.end + timedelta(days=1)))
    return query


def _annotation_counts(session: Session, scope: Scope, by_day: bool) -> list[Any]:
    """Rows (annotator, job, day, accepted, extra, lead-time sum, lead-time count)."""
    day = _local_day(session, Annotation.created_at)
    inner = _scoped(
        select(Annotation.annotator_id, Task.project_id, day.label("day"), Annotation.status,
               Annotation.lead_time)
        .join(Task, Task.id == Annotation.task_id).join(Project, Project.id == Task.project_id),
        scope, Annotation.created_at, Annotation.annotator_id, Task.project_id).subquery()
    accepted = func.sum(case((inner.c.status == AnnotationStatus.ACCEPTED, 1), else_=0))
    extra = func.sum(case((inner.c.status == AnnotationStatus.EXTRA, 1), else_=0))
    keys = [inner.c.annotator_id, inner.c.project_id] + ([inner.c.day] if by_day else [])
    return session.execute(select(*keys, accepted, extra, func.sum(inner.c.lead_time),
                                  func.count(inner.c.lead_time)).group_by(*keys)).all()


def _skip_counts(session: Session, scope: Scope, by_day: bool) -> list[Any]:
    """Rows (annotator, job, day, skips)."""
    day = _local_day(session, Assignment.finished_at)
    inner = _scoped(
        select(Assignment.annotator_id, Assignment.project_id, day.label("day"))
        .join(Project, Project.id == Assignment.project_id)
        .where(Assignment.status == AssignmentStatus.SKIPPED),
        scope, Assignment.finished_at, Assignment.annotator_id, Assignment.project_id).subquery()
    keys = [inner.c.annotator_id, inner.c.project_id] + ([inner.c.day] if by_day else [])
    return session.execute(select(*keys, func.count()).group_by(*keys)).all()


def _tally(session: Session, scope: Scope, by_day: bool) -> dict[tuple[int, str], DayRecord]:
    counted = _annotation_counts(session, scope, by_day)
    skipped = _skip_counts(session, scope, by_day)
    projects = {row[1] for row in counted}
    rates = dict(session.execute(select(Project.id, Project.piece_rate).where(Project.id.in_(projects))).all())
    records: dict[tuple[int, str], DayRecord] = {}

    def record(annotator_id: int, day: Any) -> DayRecord:
        key = (annotator_id, str(day) if by_day else "")
        return records.setdefault(key, DayRecord(annotator_id, key[1]))

    for row in counted:
        day = row[2] if by_day else None
        accepted = int(row[-4] or 0)
        entry = record(row[0], day)
        entry.accepted += accepted
        entry.extra += int(row[-3] or 0)
        entry.lead_time_sum += float(row[-2] or 0)
        entry.lead_time_count += int(row[-1])
        entry.earnings = (entry.earnings + Decimal(rates.get(row[1]) or 0) * accepted).quantize(CENT)
    for row in skipped:
        record(row[0], row[2] if by_day else None).skipped += int(row[-1])
    return records


def work_records(session: Session, scope: Scope) -> list[DayRecord]:
    """Per annotator per day in `scope`: accepted, extras, skips, mean lead time, earnings;
    ordered by day, then annotator."""
    records = _tally(session, scope, by_day=True)
    return sorted(records.values(), key=lambda r: (r.day, r.annotator_id))


def totals(session: Session, scope: Scope) -> dict[str, Any]:
    """One annotator's (or everyone's) sums over `scope`, for "my work" pages."""
    summed = DayRecord(0, "")
    for entry in _tally(session, scope, by_day=False).values():
        summed.accepted += entry.accepted
        summed.extra += entry.extra
        summed.skipped += entry.skipped
        summed.lead_time_sum += entry.lead_time_sum
        summed.lead_time_count += entry.lead_time_count
        summed.earnings += entry.earnings
    return {"accepted": summed.accepted, "extra": summed.extra, "skipped": summed.skipped,
            "mean_lead_time": summed.mean_lead_time, "earnings": str(summed.earnings)}


def _people(session: Session, records: Iterable[DayRecord]) -> dict[int, User]:
    ids = {r.annotator_id for r in records}
    return {u.id: u for u in session.scalars(select(User).where(User.id.in_(ids)))}


def records_json(session: Session, records: list[DayRecord]) -> dict[str, Any]:
    people = _people(session, records)
    rows = [{"day": r.day, "annotator_id": r.annotator_id, "username": people[r.annotator_id].username,
             "display_name": people[r.annotator_id].display_name, "accepted": r.accepted,
             "extra": r.extra, "skipped": r.skipped, "mean_lead_time": r.mean_lead_time,
             "earnings": str(r.earnings)} for r in records]
    total = sum((r.earnings for r in records), Decimal("0.00"))
    return {"records": rows, "total": {"accepted": sum(r.accepted for r in records), "earnings": str(total)}}


def _cell(value: str) -> str:
    """Text a spreadsheet will not run as a formula (names are typed by users)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def records_csv(session: Session, records: list[DayRecord]) -> bytes:
    """The records as payroll CSV: UTF-8 with a BOM (Excel then reads Chinese correctly),
    a header in Chinese and English, one row per annotator per day."""
    people = _people(session, records)
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for r in records:
        person = people[r.annotator_id]
        writer.writerow([r.day, r.annotator_id, _cell(person.username), _cell(person.display_name),
                         r.accepted, r.extra, r.skipped,
                         "" if r.mean_lead_time is None else r.mean_lead_time, r.earnings])
    return buffer.getvalue().encode("utf-8-sig")


def workday_start() -> datetime:
    """When today began, China time, in UTC (what daily capacity counts from)."""
    return _day_start_utc(today())


def capacity_left_of(user_id: int | ColumnElement[int], day_start: datetime | ColumnElement[datetime]) -> ColumnElement[int]:
    """How many more tasks the annotator may take on the day begun at `day_start` (see
    `workday_start`): their daily capacity less what they took since. An SQL value (of ids or
    bound parameters), so the pull queue reads it in the same statement as its other checks."""
    capacity = select(AnnotatorProfile.daily_capacity).where(AnnotatorProfile.user_id == user_id).scalar_subquery()
    taken = select(func.count()).select_from(Assignment).where(
        Assignment.annotator_id == user_id, Assignment.leased_at >= day_start,
        Assignment.status != AssignmentStatus.SKIPPED).scalar_subquery()
    return func.coalesce(capacity, DEFAULT_DAILY_CAPACITY) - taken
