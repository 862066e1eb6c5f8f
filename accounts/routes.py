"""Sign-in pages and the accounts API (tokens, the caller's profile, user administration)."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from sqlalchemy import select

from accounts import throttle
from accounts.auth import Unauthenticated, current_user, public, requires, sign_in
from accounts.models import Role, User
from accounts.service import authenticate, create_user, issue_token
from errors import InvalidInput, TooManyRequests, json_object
from extensions import db
from i18n import gettext

pages = Blueprint("accounts", __name__, url_prefix="/accounts")
api = Blueprint("accounts_api", __name__, url_prefix="/api/accounts")
ALL_ROLES = tuple(Role)


def user_json(user: User) -> dict:
    return {"id": user.id, "username": user.username, "email": user.email,
            "display_name": user.display_name, "role": user.role.value, "is_active": user.is_active}


@pages.route("/login", methods=["GET", "POST"])
@public
def login():
    error, status = None, 200
    if request.method == "POST":
        username = request.form.get("username", "")
        try:
            user = checked_authenticate(username, request.form.get("password", ""))
        except TooManyRequests as refused:
            return render_template("login.html", error=gettext("Too many failed sign-ins; try again later")
                                   + f" ({refused.message})"), 429
        if user is not None:
            db.session.commit()
            sign_in(user)
            return redirect(url_for("dashboard.home"))
        error, status = gettext("Wrong username or password"), 401
    return render_template("login.html", error=error), status


def checked_authenticate(username: str, password: str) -> User | None:
    """`authenticate`, refused early (429) after too many failures, counting this attempt."""
    address = request.remote_addr or "unknown"
    throttle.check(username, address)
    user = authenticate(db.session, username, password)
    (throttle.succeeded if user is not None else throttle.failed)(username, address)
    return user


@pages.route("/logout", methods=["POST"])
@requires(*ALL_ROLES)
def logout():
    session.clear()
    return redirect(url_for("accounts.login"))


@api.route("/tokens", methods=["POST"])
@public
def create_token():
    """Exchange HTTP Basic credentials for a bearer token (shown once)."""
    auth = request.authorization
    user = checked_authenticate(auth.username or "", auth.password or "") if auth else None
    if user is None:
        raise Unauthenticated("send your username and password with HTTP Basic auth")
    name = json_object(optional=True).get("name", "api")
    if not isinstance(name, str):
        raise InvalidInput("name: a short text naming the token, e.g. \"laptop\"")
    token = issue_token(db.session, user, name=name)
    db.session.commit()
    return {"token": token, "user": user_json(user)}, 201


@api.get("/me")
@requires(*ALL_ROLES)
def me():
    return user_json(current_user())


@api.get("/users")
@requires(Role.ADMIN)
def list_users():
    users = db.session.scalars(select(User).order_by(User.id)).all()
    return {"users": [user_json(u) for u in users]}


@api.post("/users")
@requires(Role.ADMIN)
def add_user():
    body = json_object()
    fields = ("username", "email", "password", "role", "display_name")
    for field in fields:
        if not isinstance(body.get(field, ""), str):
            raise InvalidInput(f"{field}: send text")
    user = create_user(db.session, *(body.get(field, "") for field in fields))
    db.session.commit()
    return user_json(user), 201
