"""Sign-in pages and the accounts API (tokens, the caller's profile, user administration)."""
from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, session, url_for
from sqlalchemy import select

from accounts.auth import Unauthenticated, current_user, public, requires, sign_in
from accounts.models import Role, User
from accounts.service import authenticate, create_user, issue_token
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
    error = None
    if request.method == "POST":
        user = authenticate(db.session, request.form.get("username", ""), request.form.get("password", ""))
        if user is not None:
            db.session.commit()
            sign_in(user)
            return redirect(url_for("dashboard.home"))
        error = gettext("Wrong username or password")
    return render_template("login.html", error=error), (401 if error else 200)


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
    user = authenticate(db.session, auth.username or "", auth.password or "") if auth else None
    if user is None:
        raise Unauthenticated("send your username and password with HTTP Basic auth")
    token = issue_token(db.session, user, name=(request.get_json(silent=True) or {}).get("name", "api"))
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
    body = request.get_json(silent=True) or {}
    user = create_user(db.session, body.get("username", ""), body.get("email", ""),
                       body.get("password", ""), body.get("role", ""), body.get("display_name", ""))
    db.session.commit()
    return user_json(user), 201
