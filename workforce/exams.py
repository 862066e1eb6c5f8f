"""Qualification exams: a manager builds one from a job's gold tasks, an annotator sits it, and
passing it awards a skill level (which opens the jobs that require that skill).

Questions are the gold tasks' data only; the gold answers never leave the server, not even as
per-question marks (the score is all an annotator learns). Answers are Label Studio results,
checked against the job's config and scored by their classification label. A failed attempt is
followed by the exam's cool-down before the next one.

Plain functions taking the session first; the caller owns the transaction.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounts.models import Role, User
from errors import Conflict, InvalidInput, NotFound
from extensions import utcnow
from projects.label_config import LabelConfig, parse
from projects.models import Project, ProjectStatus
from tasks import results
from tasks.models import Task
from workforce.models import Exam, ExamAttempt, Skill, SkillSource
from workforce.service import set_skill, skill_level, skill_name

logger = logging.getLogger(__name__)
MIN_QUESTIONS = 3
MAX_QUESTIONS = 100
MAX_COOLDOWN_HOURS = 24 * 90


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None


def _share(value: Any) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not 0 <= value <= 1:
        raise InvalidInput("pass_mark: the least share of right answers, a number from 0 to 1")
    return float(value)


def _hours(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_COOLDOWN_HOURS:
        raise InvalidInput(f"cooldown_hours: hours to wait after a failed attempt, 0 to {MAX_COOLDOWN_HOURS}")
    return value


def _question_ids(session: Session, project: Project, config: LabelConfig, value: Any) -> list[int]:
    """The chosen gold tasks of the job (default: its first ones), each with a usable answer."""
    gold = select(Task).where(Task.project_id == project.id, Task.is_gold)  # ix_task_gold
    if value is None:
        tasks = list(session.scalars(gold.order_by(Task.id).limit(MAX_QUESTIONS)))
    else:
        if not isinstance(value, list) or len(value) > MAX_QUESTIONS or \
                not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise InvalidInput(f"task_ids: a list of up to {MAX_QUESTIONS} gold task ids of the job")
        wanted = list(dict.fromkeys(value))
        found = {t.id: t for t in session.scalars(gold.where(Task.id.in_(wanted)))}
        strays = [i for i in wanted if i not in found]
        if strays:
            raise InvalidInput(f"task_ids: {strays} are not gold tasks of job {project.id}")
        tasks = [found[i] for i in wanted]
    if len(tasks) < MIN_QUESTIONS:
        raise InvalidInput(f"task_ids: an exam needs at least {MIN_QUESTIONS} gold tasks of the job "
                           f"(got {len(tasks)}); upload items with a gold answer column first")
    choices = set(config.classification.choices)
    for task in tasks:
        label = results.gold_label(config, task.gold_answer)
        if label is None or not set(label.split("|")) <= choices:
            raise InvalidInput(f"task_ids: the gold answer of task {task.id} ({task.gold_answer!r}) "
                               f"is not among the job's choices")
    return [t.id for t in tasks]


def create_exam(session: Session, user: User, project: Project, body: Mapping[str, Any]) -> Exam:
    """An exam over `project`'s gold tasks (`project` is one the caller manages)."""
    config = parse(project.label_config)
    if config.classification is None:
        raise InvalidInput("project_id: exams are scored by a Choices answer, and this job has none")
    level = skill_level(body.get("level", 1))
    if level < 1:
        raise InvalidInput("level: an exam awards a level from 1 to 5")
    exam = Exam(project_id=project.id, skill=skill_name(body.get("skill")), level=level,
                pass_mark=_share(body.get("pass_mark", 0.8)),
                cooldown_hours=_hours(body.get("cooldown_hours", 24)),
                task_ids=_question_ids(session, project, config, body.get("task_ids")),
                created_by_id=user.id)
    session.add(exam)
    session.flush()
    return exam


def exam_json(exam: Exam, project: Project) -> dict[str, Any]:
    return {"id": exam.id, "project_id": exam.project_id, "project_title": project.title,
            "skill": exam.skill, "level": exam.level, "pass_mark": exam.pass_mark,
            "cooldown_hours": exam.cooldown_hours, "questions": len(exam.task_ids),
            "created_at": _iso(exam.created_at)}


def managed_exams(session: Session, user: User) -> list[dict[str, Any]]:
    """The exams of the jobs `user` manages (admins: all), with how many sat and passed them."""
    query = select(Exam, Project).join(Project, Project.id == Exam.project_id).order_by(Exam.id)
    if user.role != Role.ADMIN:
        query = query.where(Project.created_by_id == user.id)
    rows = session.execute(query).all()
    tallies = dict(((exam_id, passed), n) for exam_id, passed, n in session.execute(
        select(ExamAttempt.exam_id, ExamAttempt.passed, func.count()).where(
            ExamAttempt.exam_id.in_([r.Exam.id for r in rows]), ExamAttempt.finished_at.is_not(None))
        .group_by(ExamAttempt.exam_id, ExamAttempt.passed)))
    return [{**exam_json(exam, project), "task_ids": exam.task_ids,
             "attempts": tallies.get((exam.id, True), 0) + tallies.get((exam.id, False), 0),
             "passed": tallies.get((exam.id, True), 0)} for exam, project in rows]


def open_exam(session: Session, exam_id: int) -> tuple[Exam, Project]:
    """An exam annotators may sit (its job is not archived); NotFound otherwise."""
    row = session.execute(select(Exam, Project).join(Project, Project.id == Exam.project_id)
                          .where(Exam.id == exam_id, Project.status != ProjectStatus.ARCHIVED)).first()
    if row is None:
        raise NotFound(f"exam {exam_id} not found")
    return row.Exam, row.Project


def _finished(session: Session, user: User, exam_id: int) -> list[ExamAttempt]:
    return list(session.scalars(select(ExamAttempt).where(
        ExamAttempt.exam_id == exam_id, ExamAttempt.user_id == user.id,
        ExamAttempt.finished_at.is_not(None)).order_by(ExamAttempt.finished_at)))


def _standing(exam: Exam, attempts: list[ExamAttempt]) -> dict[str, Any]:
    """Where the person stands with an exam: passed when, or when they may try again."""
    passed = next((a for a in attempts if a.passed), None)
    last = attempts[-1] if attempts else None
    retry_after = None
    if passed is None and last is not None:
        retry_after = last.finished_at + timedelta(hours=exam.cooldown_hours)
        retry_after = retry_after if retry_after > utcnow() else None
    return {"attempts": len(attempts), "passed_at": _iso(passed.finished_at) if passed else None,
            "retry_after": _iso(retry_after)}


def exams_open_to(session: Session, user: User) -> list[dict[str, Any]]:
    """The exams an annotator may sit, each with where they stand."""
    rows = session.execute(select(Exam, Project).join(Project, Project.id == Exam.project_id)
                           .where(Project.status != ProjectStatus.ARCHIVED).order_by(Exam.id)).all()
    mine: dict[int, list[ExamAttempt]] = {}
    for attempt in session.scalars(select(ExamAttempt).where(
            ExamAttempt.user_id == user.id, ExamAttempt.finished_at.is_not(None))
            .order_by(ExamAttempt.finished_at)):
        mine.setdefault(attempt.exam_id, []).append(attempt)
    return [{**exam_json(exam, project), **_standing(exam, mine.get(exam.id, []))} for exam, project in rows]


def _open_attempt(session: Session, user: User, exam: Exam) -> ExamAttempt | None:
    return session.scalar(select(ExamAttempt).where(
        ExamAttempt.exam_id == exam.id, ExamAttempt.user_id == user.id, ExamAttempt.finished_at.is_(None)))


def start_attempt(session: Session, user: User, exam: Exam) -> ExamAttempt:
    """The caller's open attempt, or a new one; Conflict once passed or during the cool-down."""
    attempt = _open_attempt(session, user, exam)
    if attempt is not None:
        return attempt
    standing = _standing(exam, _finished(session, user, exam.id))
    if standing["passed_at"]:
        raise Conflict(f"exam: you passed it on {standing['passed_at']} ({exam.skill} level {exam.level})")
    if standing["retry_after"]:
        raise Conflict(f"exam: you may retry after {standing['retry_after']} "
                       f"(a failed attempt is followed by {exam.cooldown_hours} hours' cool-down)")
    attempt = ExamAttempt(exam_id=exam.id, user_id=user.id, started_at=utcnow())
    session.add(attempt)
    try:
        session.flush()
    except IntegrityError:  # the same person opened it twice at once: both get the one attempt
        session.rollback()
        attempt = _open_attempt(session, user, exam)
        if attempt is None:
            raise Conflict("exam: your attempt was just answered elsewhere") from None
    return attempt


def questions(session: Session, exam: Exam) -> list[dict[str, Any]]:
    """The exam's items as annotators see them: task id and data, never the gold answer."""
    data = dict(session.execute(select(Task.id, Task.data).where(Task.id.in_(exam.task_ids))).all())
    return [{"task_id": task_id, "data": data[task_id]} for task_id in exam.task_ids if task_id in data]


def _checked_answers(config: LabelConfig, exam: Exam, answers: Any) -> dict[int, list[dict[str, Any]]]:
    if not isinstance(answers, Mapping):
        raise InvalidInput("answers: an object of task id -> Label Studio result, one per question")
    given = {str(key): value for key, value in answers.items()}
    missing = [t for t in exam.task_ids if str(t) not in given]
    strays = sorted(set(given) - {str(t) for t in exam.task_ids})
    if missing or strays:
        raise InvalidInput(f"answers: answer every question once (missing: {missing or 'none'}; "
                           f"not in this exam: {strays or 'none'})")
    checked = {}
    for task_id in exam.task_ids:
        try:
            checked[task_id] = results.validate(config, given[str(task_id)])
        except InvalidInput as err:
            raise InvalidInput(f"answers.{task_id}: {err.message}") from None
    return checked


def submit_answers(session: Session, user: User, exam: Exam, project: Project, answers: Any) -> ExamAttempt:
    """Score the caller's answers, close their attempt, and award the skill level on a pass."""
    attempt = start_attempt(session, user, exam)
    config = parse(project.label_config)
    checked = _checked_answers(config, exam, answers)
    gold = dict(session.execute(select(Task.id, Task.gold_answer).where(Task.id.in_(exam.task_ids))).all())
    right = 0
    for task_id, result in checked.items():
        label = results.primary_label(config, result)
        right += label is not None and label == results.gold_label(config, gold.get(task_id))
    score = right / len(exam.task_ids)
    passed = score >= exam.pass_mark
    closed = session.execute(update(ExamAttempt).where(
        ExamAttempt.id == attempt.id, ExamAttempt.finished_at.is_(None))
        .values(finished_at=utcnow(), score=score, passed=passed,
                answers={str(k): v for k, v in checked.items()})
        .execution_options(synchronize_session=False)).rowcount == 1
    if not closed:  # two submissions of one attempt at once: the first one counts
        raise Conflict("exam: this attempt has already been answered")
    session.refresh(attempt)
    if passed:
        held = session.scalar(select(Skill.level).where(Skill.user_id == user.id, Skill.name == exam.skill))
        if held is None or held < exam.level:  # an exam never lowers a level held already
            set_skill(session, user, exam.skill, exam.level, SkillSource.EXAM)
    logger.info("event=exam_answered exam_id=%s user_id=%s score=%.3f passed=%s",
                exam.id, user.id, score, passed)
    return attempt


def attempt_json(exam: Exam, attempt: ExamAttempt) -> dict[str, Any]:
    """An answered attempt as its taker sees it: the score, never which answers were wrong."""
    body: dict[str, Any] = {"attempt_id": attempt.id, "exam_id": exam.id, "score": round(attempt.score, 4),
                            "passed": attempt.passed, "pass_mark": exam.pass_mark,
                            "started_at": _iso(attempt.started_at), "finished_at": _iso(attempt.finished_at)}
    if attempt.passed:
        body["skill"] = {"name": exam.skill, "level": exam.level}
    else:
        body["retry_after"] = _iso(attempt.finished_at + timedelta(hours=exam.cooldown_hours))
    return body
