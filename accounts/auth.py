"""Who is calling, and may they: resolved before every request, enforced on every route.

Each view declares its audience with `@requires(Role...)` or `@public`; a view that declares
neither is refused (deny by default), and a test walks the URL map to keep it that way.
Browsers authenticate with the session cookie and must send a CSRF token on unsafe methods;
API clients send `Authorization: Bearer <token>`, which a cross-site page cannot forge.
"""
from __future__ import annotations

from functools import wraps
from typing import Callable, TypeVar

from flask import Flask, current_app, g, request, session
from flask_wtf.csrf import CSRFProtect

from accounts.models import Role, User
from accounts.service import user_for_token
from errors import Forbidden, QianlingError
from extensions import db

F = TypeVar("F", bound=Callable)
csrf = CSRFProtect()
_SAFE = {"GET", "HEAD", "OPTIONS"}


class Unauthenticated(QianlingError):
    status, code = 401, "unauthenticated"


def public(view: F) -> F:
    """Mark a view as open to anyone (login page, health check)."""
    view.qianling_public = True  # type: ignore[attr-defined]
    return view


def requires(*roles: Role) -> Callable[[F], F]:
    """Allow the view only to signed-in users holding one of `roles`."""
    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args, **kwargs):
            user = current_user()
            if user.role not in roles:
                raise Forbidden(f"this needs the role {' or '.join(r.value for r in roles)}")
            return view(*args, **kwargs)
        guarded.qianling_roles = roles  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]
    return decorate


def current_user() -> User:
    """The signed-in user, or 401."""
    user = g.get("user")
    if user is None:
        raise Unauthenticated("sign in, or send 'Authorization: Bearer <token>'")
    return user


def _load_user() -> None:
    g.user, g.via_token = None, False
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        g.user, touched = user_for_token(db.session, header[7:].strip())
        g.via_token = True
        if g.user is None:
            raise Unauthenticated("the API token is unknown or revoked")
        if touched:
            db.session.commit()  # keeps the throttled last-used stamp
        return
    if header:  # other schemes (Basic) carry credentials for one endpoint, never a session
        return
    user_id = session.get("user_id")
    if user_id is not None:
        user = db.session.get(User, user_id)
        if user is not None and user.is_active and session.get("auth_stamp") == user.password_hash[-16:]:
            g.user = user
        else:
            session.clear()


def _guard() -> None:
    view = current_app.view_functions.get(request.endpoint or "")
    if view is None or request.endpoint == "static":  # 404/405 for Werkzeug; static files are public
        return
    if not (getattr(view, "qianling_public", False) or getattr(view, "qianling_roles", None)):
        raise Forbidden("this route declares no audience and is closed")
    _load_user()
    # Only cookie-authenticated requests can be forged cross-site; a request carrying its own
    # credentials (Bearer token, or Basic to obtain one) cannot.
    if request.method not in _SAFE and "Authorization" not in request.headers:
        csrf.protect()


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    app.before_request(_guard)


def sign_in(user: User) -> None:
    """Start a browser session for `user`, dropping whatever the old session held."""
    session.clear()
    session["user_id"] = user.id
    # Changing the password ends every other session that carried the old stamp.
    session["auth_stamp"] = user.password_hash[-16:]
    session.permanent = True
