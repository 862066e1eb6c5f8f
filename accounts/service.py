"""Account operations: create users, check passwords, issue and resolve API tokens.

Plain functions taking the session first; the caller (route, CLI, job) owns the transaction.
Passwords use Argon2id (argon2-cffi's defaults); tokens are random and stored only as SHA-256.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.orm import Session

from accounts.models import ApiToken, Role, User
from errors import Conflict, InvalidInput
from extensions import utcnow

_hasher = PasswordHasher()
_USERNAME = re.compile(r"^[A-Za-z0-9_.-]{2,80}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")  # Label Studio (Django) wants a dotted domain
TOKEN_PREFIX = "qlt_"
MIN_PASSWORD = 8
TOKEN_TOUCH_INTERVAL = timedelta(minutes=5)


def _parse_role(role: str | Role) -> Role:
    try:
        return Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise InvalidInput(f"unknown role {role!r}; choose one of: {allowed}") from None


def create_user(session: Session, username: str, email: str, password: str,
                role: str | Role, display_name: str = "") -> User:
    """Add a user; raise InvalidInput or Conflict with the field at fault."""
    if not _USERNAME.match(username or ""):
        raise InvalidInput("username: 2-80 letters, digits, '.', '_' or '-'")
    if not _EMAIL.match(email or ""):
        raise InvalidInput(f"email: {email!r} is not an e-mail address")
    if len(password or "") < MIN_PASSWORD:
        raise InvalidInput(f"password: at least {MIN_PASSWORD} characters")
    clash = session.scalar(select(User).where(or_(User.username == username, User.email == email)))
    if clash is not None:
        field = "username" if clash.username == username else "email"
        raise Conflict(f"{field}: already taken")
    user = User(username=username, email=email, role=_parse_role(role),
                display_name=display_name or username, password_hash=_hasher.hash(password))
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with these credentials, or None (never says which part was wrong)."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.is_active:
        _hasher.hash(password or "")  # same cost either way, so timing does not reveal usernames
        return None
    try:
        _hasher.verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(session: Session, user: User, name: str = "") -> str:
    """Create an API token for `user` and return it; only its hash is kept."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, name=name[:80], token_hash=_digest(token), prefix=token[:12]))
    session.flush()
    return token


# Built once (it runs before every API call), the hash bound at execution: building a statement
# costs SQLAlchemy more CPU than running it. The token's own columns are read, not its entity.
_TOKEN_OWNER = select(User, ApiToken.id, ApiToken.last_used_at).join(ApiToken, User.id == ApiToken.user_id).where(
    ApiToken.token_hash == bindparam("token_hash"), ApiToken.revoked_at.is_(None), User.is_active.is_(True))
_TOUCH = (update(ApiToken).where(ApiToken.id == bindparam("token_id")).values(last_used_at=bindparam("now"))
          .execution_options(synchronize_session=False))


def user_for_token(session: Session, token: str) -> tuple[User | None, bool]:
    """The active user a live token belongs to (or None), and whether its last-used stamp
    changed (the caller commits then). One query: this runs before every API call."""
    if not token.startswith(TOKEN_PREFIX):
        return None, False
    row = session.execute(_TOKEN_OWNER, {"token_hash": _digest(token)}).first()
    if row is None:
        return None, False
    user, token_id, last_used_at = row
    now = utcnow()
    # Recorded at most every few minutes: a write on every API call would cost the hot paths.
    if last_used_at is None or now - last_used_at > TOKEN_TOUCH_INTERVAL:
        session.execute(_TOUCH, {"token_id": token_id, "now": now})
        return user, True
    return user, False
