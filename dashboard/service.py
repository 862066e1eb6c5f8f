"""The figures behind the home pages, read from the jobs, the work records and the QA results."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import Role, User
from exports.models import Dataset, DatasetGrant, GrantStatus
from projects.models import Project
from projects.service import managed_projects, project_json
from qa.models import (
    AnnotatorScore,
    Consensus,
    ConsensusStatus,
    QARun,
    ReviewItem,
    ReviewStatus,
)
from qa.review import open_count
from workforce.records import Scope, today, totals, work_records

DAYS = 14
LEADERS = 10


def manager_dashboard(session: Session, user: User) -> dict[str, Any]:
    """Jobs with progress, throughput per day, agreement over time, labels, and the leaderboard."""
    projects = managed_projects(session, user)
    ids = [p.id for p in projects]
    start = today() - timedelta(days=DAYS - 1)
    records = work_records(session, Scope(manager_id=None if user.role == Role.ADMIN else user.id, start=start))
    per_day = {(start + timedelta(days=i)).isoformat(): 0 for i in range(DAYS)}
    for record in records:
        per_day[record.day] = per_day.get(record.day, 0) + record.accepted
    runs = session.execute(select(QARun.completed_at, QARun.percent_agreement, Project.title)
                           .join(Project, Project.id == QARun.project_id)
                           .where(QARun.project_id.in_(ids), QARun.completed_at.is_not(None),
                                  QARun.percent_agreement.is_not(None))
                           .order_by(QARun.completed_at.desc()).limit(40)).all()
    labels = session.execute(select(Consensus.label, func.count()).where(
        Consensus.project_id.in_(ids), Consensus.label.is_not(None),
        Consensus.status.in_([ConsensusStatus.AGREED, ConsensusStatus.REVIEWED]))
        .group_by(Consensus.label).order_by(func.count().desc()).limit(12)).all()
    return {"jobs": [project_json(session, p) for p in projects[:20]],
            "throughput": list(per_day.items()),
            "agreement": [(r.completed_at, r.percent_agreement, r.title) for r in reversed(runs)],
            "labels": [(label, int(count)) for label, count in labels],
            "leaders": leaderboard(session, records, ids),
            "review_open": open_count(session, user, ids)}


def leaderboard(session: Session, records: list, project_ids: list[int]) -> list[dict[str, Any]]:
    """The most productive annotators of the period, with their latest quality scores."""
    people: dict[int, dict[str, Any]] = {}
    for record in records:
        row = people.setdefault(record.annotator_id, {"accepted": 0, "earnings": 0, "lead": [0.0, 0]})
        row["accepted"] += record.accepted
        row["earnings"] += record.earnings
        row["lead"][0] += record.lead_time_sum
        row["lead"][1] += record.lead_time_count
    top = sorted(people, key=lambda a: -people[a]["accepted"])[:LEADERS]
    latest = select(func.max(AnnotatorScore.id)).join(QARun, QARun.id == AnnotatorScore.run_id).where(
        QARun.project_id.in_(project_ids), AnnotatorScore.annotator_id.in_(top)).group_by(AnnotatorScore.annotator_id)
    scores = {s.annotator_id: s for s in session.scalars(select(AnnotatorScore).where(AnnotatorScore.id.in_(latest)))}
    names = dict(session.execute(select(User.id, User.display_name).where(User.id.in_(top))).all())
    return [{"name": names.get(a, a), "accepted": people[a]["accepted"], "earnings": people[a]["earnings"],
             "lead_time": people[a]["lead"][0] / people[a]["lead"][1] if people[a]["lead"][1] else None,
             "agreement": scores[a].agreement if a in scores else None,
             "gold_accuracy": scores[a].gold_accuracy if a in scores else None} for a in top]


def annotator_home(session: Session, user: User) -> dict[str, Any]:
    start = today() - timedelta(days=DAYS - 1)
    mine = work_records(session, Scope(annotator_id=user.id, start=start))
    per_day = {(start + timedelta(days=i)).isoformat(): 0 for i in range(DAYS)}
    for record in mine:
        per_day[record.day] += record.accepted
    return {"today": totals(session, Scope(annotator_id=user.id, start=today(), end=today())),
            "total": totals(session, Scope(annotator_id=user.id)), "throughput": list(per_day.items())}


def reviewer_home(session: Session) -> dict[str, Any]:
    rows = session.execute(select(Project.id, Project.title, func.count()).join(ReviewItem, ReviewItem.project_id == Project.id)
                           .where(ReviewItem.status == ReviewStatus.OPEN).group_by(Project.id)).all()
    return {"queues": [{"project_id": r[0], "title": r[1], "open": int(r[2])} for r in rows]}


def buyer_home(session: Session, user: User) -> dict[str, Any]:
    published = session.scalar(select(func.count()).select_from(Dataset).where(Dataset.published_at.is_not(None))) or 0
    granted = session.execute(select(Dataset).join(DatasetGrant, DatasetGrant.dataset_id == Dataset.id).where(
        DatasetGrant.buyer_id == user.id, DatasetGrant.status == GrantStatus.GRANTED,
        Dataset.published_at.is_not(None))).scalars().all()
    return {"published": int(published), "granted": [{"id": d.id, "name": d.name, "version": d.version,
                                                      "items": d.n_items} for d in granted]}
