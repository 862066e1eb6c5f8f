"""The admin pages: `/admin/users` (accounts and roles) and `/admin/system` (health, RQ dashboard).

Server-rendered forms posting back here (CSRF-checked by accounts.auth); the re-queue buttons on
the system page call `POST /api/admin/jobs/<id>/requeue` from static/js/admin.js. Labels are
English message ids shown in the user's language (i18n).
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from accounts.auth import current_user, requires
from accounts.models import Role
from accounts.service import MIN_PASSWORD, create_user
from admin import status, users
from errors import QianlingError
from extensions import db, redis_connection
from i18n import gettext

pages = Blueprint("admin_pages", __name__, url_prefix="/admin")
_FORM_FIELDS = ("username", "email", "display_name", "role")


def _users_page(error: str | None = None, form: dict[str, str] | None = None, status_code: int = 200):
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows, total = users.list_users(db.session, page)
    last_page = max((total + users.PAGE_SIZE - 1) // users.PAGE_SIZE, 1)
    return render_template("admin/users.html", rows=rows, total=total, page=page, last_page=last_page,
                           roles=[r.value for r in Role], me=current_user(), error=error,
                           form=form or {"role": Role.ANNOTATOR.value}, min_password=MIN_PASSWORD), status_code


@pages.get("/users")
@requires(Role.ADMIN)
def user_list():
    return _users_page()


@pages.post("/users")
@requires(Role.ADMIN)
def user_create():
    form = {field: request.form.get(field, "").strip() for field in _FORM_FIELDS}
    try:
        users.parse_role(form["role"])
        user = create_user(db.session, form["username"], form["email"], request.form.get("password", ""),
                           form["role"], form["display_name"])
        db.session.commit()
    except QianlingError as err:
        db.session.rollback()
        return _users_page(error=err.message, form=form, status_code=err.status)
    flash(gettext("Created %(name)s.", name=user.username))
    return redirect(url_for("admin_pages.user_list"), 303)


def _apply(user_id: int, change: Any) -> Any:
    """Run `change(user)` for the user `user_id`, commit, and go back to the list."""
    try:
        user = users.get_user(db.session, user_id)
        change(user)
        db.session.commit()
    except QianlingError as err:
        db.session.rollback()
        return _users_page(error=err.message, status_code=err.status)
    flash(gettext("Saved %(name)s.", name=user.username))
    return redirect(url_for("admin_pages.user_list", page=request.form.get("page", 1, type=int)), 303)


@pages.post("/users/<int:user_id>/role")
@requires(Role.ADMIN)
def user_role(user_id: int):
    role = request.form.get("role", "")
    return _apply(user_id, lambda user: users.change_role(db.session, current_user(), user, role))


@pages.post("/users/<int:user_id>/active")
@requires(Role.ADMIN)
def user_active(user_id: int):
    active = request.form.get("active") == "1"
    return _apply(user_id, lambda user: users.set_active(db.session, current_user(), user, active))


@pages.get("/system")
@requires(Role.ADMIN)
def system():
    """Services, RQ workers, queue depths and the latest failed jobs (re-queue from here)."""
    services = status.services()
    return render_template("admin/system.html", services=services["services"],
                           all_up=services["all_up"], rq=status.redis_overview(redis_connection()),
                           failed=status.failed_records(db.session), shown_error=status.shown_error)
