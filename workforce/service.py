"""Workforce operations: annotators' profiles and skills, pausing and resuming them, and the two
checks the pull queue applies before handing out work (`is_paused`, `eligibility_filter`; as SQL
expressions too, so that it reads them in one statement).

Plain functions taking the session first; the caller owns the transaction. Exams live in
`workforce.exams`, work records and payroll in `workforce.records`.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, Text, cast, exists, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from accounts.models import Role, User
from errors import Conflict, InvalidInput, NotFound
from extensions import upsert_insert, utcnow
from projects.models import Project
from workforce.models import DEFAULT_DAILY_CAPACITY, AnnotatorProfile, ProfileStatus, Skill, SkillSource

logger = logging.getLogger(__name__)
MAX_LEVEL = 5
MAX_CAPACITY = 10_000


def annotator(session: Session, user_id: int) -> User:
    """The annotator with this id; NotFound for anyone else, so other accounts cannot be probed."""
    user = session.get(User, user_id)
    if user is None or user.role != Role.ANNOTATOR:
        raise NotFound(f"annotator {user_id} not found")
    return user


def get_or_create_profile(session: Session, user: User) -> AnnotatorProfile:
    """The user's profile, created with defaults on first use (safe when two requests race)."""
    profile = session.get(AnnotatorProfile, user.id)
    if profile is not None:
        return profile
    session.execute(upsert_insert(session, AnnotatorProfile).values(user_id=user.id).on_conflict_do_nothing())
    return session.get(AnnotatorProfile, user.id)


def skills_of(session: Session, user_id: int) -> list[Skill]:
    return list(session.scalars(select(Skill).where(Skill.user_id == user_id).order_by(Skill.name)))


def held_skills(session: Session, user: User) -> set[str]:
    """The skill names the user qualifies with (level 1 or more)."""
    return set(session.scalars(select(Skill.name).where(Skill.user_id == user.id, Skill.level >= 1)))


def skill_name(value: Any, field: str = "skill") -> str:
    """A skill name as jobs list it in `required_skills` (1 to 60 characters)."""
    if not isinstance(value, str) or not 0 < len(value.strip()) <= 60:
        raise InvalidInput(f"{field}: a skill name of 1 to 60 characters, e.g. 政务")
    return value.strip()


def skill_level(value: Any, field: str = "level") -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_LEVEL:
        raise InvalidInput(f"{field}: a whole number from 0 to {MAX_LEVEL}")
    return value


def set_skill(session: Session, user: User, name: str, level: int, source: SkillSource) -> Skill:
    """Give the user `name` at `level` (added, or changed in place)."""
    skill = session.scalar(select(Skill).where(Skill.user_id == user.id, Skill.name == name))
    if skill is None:
        skill = Skill(user_id=user.id, name=name)
        session.add(skill)
    skill.level, skill.source = level, source
    return skill


def set_skills(session: Session, user: User, levels: Any) -> list[Skill]:
    """Set the named skills' levels by hand (`{"政务": 3}`); skills not named stay as they are,
    level 0 keeps the name without qualifying for its jobs."""
    if not isinstance(levels, Mapping) or len(levels) > 50:
        raise InvalidInput("skills: an object of up to 50 skill names and levels, e.g. {\"政务\": 3}")
    checked = {skill_name(name, "skills"): skill_level(level, f"skills.{name}") for name, level in levels.items()}
    for name, level in checked.items():
        set_skill(session, user, name, level, SkillSource.MANAGER)
    try:
        session.flush()
    except IntegrityError:  # another manager added the same skill at the same moment
        session.rollback()
        raise Conflict("skills: changed by someone else at the same time; send them again") from None
    return skills_of(session, user.id)


def _languages(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > 20 or \
            not all(isinstance(v, str) and 0 < len(v.strip()) <= 30 for v in value):
        raise InvalidInput("languages: a list of up to 20 languages, e.g. [\"zh\", \"bo\", \"ug\"]")
    return list(dict.fromkeys(v.strip() for v in value))  # de-duplicated, order kept


def _capacity(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_CAPACITY:
        raise InvalidInput(f"daily_capacity: tasks a day, a whole number from 0 to {MAX_CAPACITY}")
    return value


def update_profile(session: Session, user: User, body: Mapping[str, Any]) -> AnnotatorProfile:
    """Change what `body` names of an annotator: skills, daily_capacity, languages."""
    unknown = sorted(set(body) - {"skills", "daily_capacity", "languages"})
    if unknown:
        raise InvalidInput(f"{unknown[0]}: not a profile field (skills, daily_capacity, languages)")
    languages = _languages(body["languages"]) if "languages" in body else None
    capacity = _capacity(body["daily_capacity"]) if "daily_capacity" in body else None
    if "skills" in body:
        set_skills(session, user, body["skills"])
    profile = get_or_create_profile(session, user)
    if languages is not None:
        profile.languages = languages
    if capacity is not None:
        profile.daily_capacity = capacity
    return profile


def pause(session: Session, user: User, reason: Any, by: User | None = None) -> AnnotatorProfile:
    """Stop handing work to an annotator, saying why; `by` is the manager (None: QA automation)."""
    if not isinstance(reason, str) or not reason.strip():
        raise InvalidInput("reason: say why the annotator is paused (they see it)")
    profile = get_or_create_profile(session, user)
    if profile.status == ProfileStatus.PAUSED:
        raise Conflict(f"status: {user.username} is already paused ({profile.pause_reason})")
    profile.status, profile.pause_reason = ProfileStatus.PAUSED, reason.strip()[:300]
    profile.paused_at, profile.paused_by_id = utcnow(), by.id if by else None
    logger.info("event=annotator_paused user_id=%s by=%s", user.id, by.id if by else "auto")
    return profile


def resume(session: Session, user: User, by: User | None = None) -> AnnotatorProfile:
    """Hand work to a paused annotator again."""
    profile = get_or_create_profile(session, user)
    if profile.status != ProfileStatus.PAUSED:
        raise Conflict(f"status: {user.username} is not paused")
    profile.status = ProfileStatus.ACTIVE
    profile.pause_reason = profile.paused_at = profile.paused_by_id = None
    logger.info("event=annotator_resumed user_id=%s by=%s", user.id, by.id if by else "auto")
    return profile


def pause_reason_of(user_id: int | ColumnElement[int]) -> ScalarSelect[str | None]:
    """Why the user is paused, as an SQL value: NULL when they may work (no profile: not paused).
    An expression (of an id or a bound parameter), so the pull queue reads it in the same
    statement as its other checks."""
    return select(AnnotatorProfile.pause_reason).where(
        AnnotatorProfile.user_id == user_id, AnnotatorProfile.status == ProfileStatus.PAUSED).scalar_subquery()


def is_paused(session: Session, user: User) -> str | None:
    """Why the user is paused, or None when they may work (no profile yet: not paused)."""
    return session.scalar(select(pause_reason_of(user.id)))


def _requires_skills() -> ColumnElement[bool]:
    # Only a shortcut: a list that is empty but spelled otherwise is read and found empty below.
    return cast(Project.required_skills, Text).not_in(["[]", "null"])


def any_job_requires_skills() -> ColumnElement[bool]:
    """Whether some job lists required skills, as an SQL value: when none does (the common
    case), `eligibility_filter` has nothing to read."""
    return exists().where(_requires_skills())


def eligibility_filter(session: Session, user: User) -> ColumnElement[bool]:
    """A clause over `Project`, true for the jobs whose required skills the user all holds at
    level 1 or more (jobs requiring none are open to all).

    `required_skills` is a JSON list, and JSON functions differ between SQLite and PostgreSQL,
    so the comparison runs here: the jobs that require skills are read (id and list only), and
    those the user lacks a skill for are excluded by id."""
    requiring = session.execute(select(Project.id, Project.required_skills).where(_requires_skills())).all()
    if not requiring:
        return true()
    held = held_skills(session, user)
    barred = [project_id for project_id, required in requiring if not set(required or ()) <= held]
    return Project.id.not_in(barred) if barred else true()


def profile_json(user: User, profile: AnnotatorProfile | None, skills: list[Skill]) -> dict[str, Any]:
    """An annotator as managers (and they themselves) see them; defaults when no profile exists."""
    paused = profile is not None and profile.status == ProfileStatus.PAUSED
    return {
        "user_id": user.id, "username": user.username, "display_name": user.display_name,
        "languages": profile.languages if profile else [],
        "daily_capacity": profile.daily_capacity if profile else DEFAULT_DAILY_CAPACITY,
        "status": profile.status.value if profile else ProfileStatus.ACTIVE.value,
        "pause": {"reason": profile.pause_reason, "paused_at": profile.paused_at.isoformat() + "Z",
                  "paused_by_id": profile.paused_by_id,
                  "automatic": profile.paused_by_id is None} if paused else None,
        "skills": [{"name": s.name, "level": s.level, "source": s.source.value} for s in skills]}


def annotators_json(session: Session) -> list[dict[str, Any]]:
    """Every annotator with profile and skills, in three queries whatever their number."""
    users = list(session.scalars(select(User).where(User.role == Role.ANNOTATOR).order_by(User.id)))
    profiles = {p.user_id: p for p in session.scalars(select(AnnotatorProfile))}
    skills: dict[int, list[Skill]] = {}
    for skill in session.scalars(select(Skill).order_by(Skill.name)):
        skills.setdefault(skill.user_id, []).append(skill)
    return [profile_json(u, profiles.get(u.id), skills.get(u.id, [])) for u in users]
