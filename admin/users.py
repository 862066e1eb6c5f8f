"""User administration: list accounts with their last API use, change roles, (de)activate.

Plain functions taking the session first; the caller commits. Creating users stays in
`accounts.service.create_user`. Two guards keep the platform administrable: an admin cannot
demote or deactivate themselves, and the last active admin can be neither demoted nor deactivated.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import ApiToken, Role, User
from errors import Conflict, InvalidInput, NotFound

PAGE_SIZE = 100


@dataclass(frozen=True)
class UserRow:
    """What the admin pages show of an account: never its password or token hashes."""

    id: int
    username: str
    email: str
    display_name: str
    role: str
    is_active: bool
    created_at: datetime
    last_token_use: datetime | None

    def to_json(self) -> dict:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() + "Z" if value else None
        return {"id": self.id, "username": self.username, "email": self.email,
                "display_name": self.display_name, "role": self.role, "is_active": self.is_active,
                "created_at": iso(self.created_at), "last_token_use": iso(self.last_token_use)}


def list_users(session: Session, page: int = 1, per_page: int = PAGE_SIZE) -> tuple[list[UserRow], int]:
    """One page of users by username, each with their latest token use, and the total count."""
    last_use = (select(ApiToken.user_id, func.max(ApiToken.last_used_at).label("last_use"))
                .group_by(ApiToken.user_id).subquery())
    rows = session.execute(
        select(User, last_use.c.last_use).outerjoin(last_use, last_use.c.user_id == User.id)
        .order_by(User.username).limit(per_page).offset((max(page, 1) - 1) * per_page)).all()
    total = session.scalar(select(func.count(User.id))) or 0
    return [_row(user, used) for user, used in rows], total


def user_row(session: Session, user: User) -> UserRow:
    used = session.scalar(select(func.max(ApiToken.last_used_at)).where(ApiToken.user_id == user.id))
    return _row(user, used)


def _row(user: User, last_use: datetime | None) -> UserRow:
    return UserRow(user.id, user.username, user.email, user.display_name, user.role.value,
                   user.is_active, user.created_at, last_use)


def get_user(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


def parse_role(value: object) -> Role:
    """`value` as a Role, or InvalidInput naming the field and the choices."""
    try:
        return Role(value)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise InvalidInput(f"role: {value!r} is not a role; choose one of: {choices}") from None


def _other_active_admins(session: Session, user: User) -> int:
    # Locks the admin rows (PostgreSQL), so two admins demoting each other at once cannot both pass.
    ids = session.scalars(select(User.id).where(User.role == Role.ADMIN, User.is_active.is_(True),
                                                User.id != user.id).with_for_update()).all()
    return len(ids)


def _keeps_an_admin(session: Session, actor: User, user: User, field: str, done: str) -> None:
    """Refuse (409, naming `field`) to leave the platform without `user` as admin if that
    would lock admins out: `done` is what would happen to them ("demoted", "deactivated")."""
    if user.id == actor.id:
        raise Conflict(f"{field}: your own account cannot be {done} by you; ask another admin")
    if user.role == Role.ADMIN and user.is_active and _other_active_admins(session, user) == 0:
        raise Conflict(f"{field}: {user.username} is the last active admin and cannot be {done}")


def change_role(session: Session, actor: User, user: User, role: object) -> User:
    """Give `user` another role; refuses self-demotion and removing the last active admin."""
    new_role = parse_role(role)
    if new_role == user.role:
        return user
    if user.role == Role.ADMIN:
        _keeps_an_admin(session, actor, user, "role", "demoted")
    user.role = new_role
    session.flush()
    return user


def set_active(session: Session, actor: User, user: User, active: bool) -> User:
    """Deactivate (sessions and tokens stop working at once) or reactivate `user`."""
    if not isinstance(active, bool):
        raise InvalidInput("is_active: send true or false")
    if active == user.is_active:
        return user
    if not active:
        _keeps_an_admin(session, actor, user, "is_active", "deactivated")
    user.is_active = active
    session.flush()
    return user
