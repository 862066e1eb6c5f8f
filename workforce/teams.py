"""Teams: named groups of annotators, so a manager can hand a batch to a whole site or shift."""
from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from accounts.models import Role, User
from errors import Conflict, InvalidInput
from workforce.models import Team, TeamMember


def annotators_named(session: Session, usernames: list[str]) -> list[User]:
    """The annotators with these usernames; InvalidInput naming any that is not one."""
    users = session.scalars(select(User).where(User.username.in_(usernames))).all() if usernames else []
    unknown = sorted(set(usernames) - {u.username for u in users if u.role == Role.ANNOTATOR})
    if unknown:
        raise InvalidInput(f"usernames: not annotators: {', '.join(unknown)}")
    return list(users)


def save_team(session: Session, name: Any, usernames: Any) -> Team:
    """Create the team, or replace its members when it exists."""
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 80:
        raise InvalidInput("name: 1 to 80 characters")
    if not isinstance(usernames, list) or not all(isinstance(u, str) for u in usernames):
        raise InvalidInput("usernames: a list of annotators' usernames")
    members = annotators_named(session, usernames)
    team = session.scalar(select(Team).where(Team.name == name.strip()))
    if team is None:
        team = Team(name=name.strip())
        session.add(team)
        session.flush()
    session.execute(delete(TeamMember).where(TeamMember.team_id == team.id))
    session.add_all(TeamMember(team_id=team.id, user_id=u.id) for u in members)
    return team


def members_of(session: Session, team_names: list[str]) -> list[User]:
    """Everyone in the named teams; Conflict naming a team that does not exist."""
    if not team_names:
        return []
    teams = session.scalars(select(Team).where(Team.name.in_(team_names))).all()
    missing = sorted(set(team_names) - {t.name for t in teams})
    if missing:
        raise Conflict(f"teams: no team named {', '.join(missing)}")
    return list(session.scalars(select(User).join(TeamMember, TeamMember.user_id == User.id)
                                .where(TeamMember.team_id.in_([t.id for t in teams]))))


def teams_json(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(select(Team.name, User.username).outerjoin(TeamMember, TeamMember.team_id == Team.id)
                           .outerjoin(User, User.id == TeamMember.user_id).order_by(Team.name, User.username))
    teams: dict[str, list[str]] = {}
    for name, username in rows:
        teams.setdefault(name, [])
        if username:
            teams[name].append(username)
    return [{"name": n, "members": m} for n, m in teams.items()]
