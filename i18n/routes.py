"""Choosing the UI language: saved on the account when signed in, in a cookie otherwise."""
from __future__ import annotations

from flask import Blueprint, g, redirect, request
from werkzeug.wrappers import Response

from accounts.auth import public
from errors import InvalidInput
from extensions import db
from i18n import COOKIE, LOCALES

pages = Blueprint("i18n", __name__)


@pages.post("/language")
@public
def choose_language() -> Response:
    """Set the language (form field `locale`) and go back to the page the form was on."""
    locale = request.form.get("locale", "")
    if locale not in LOCALES:
        raise InvalidInput(f"locale: one of {', '.join(LOCALES)}")
    user = g.get("user")
    if user is not None:
        user.locale = locale
        db.session.commit()
    back = request.form.get("next", "/")
    reply = redirect(back if back.startswith("/") and not back.startswith("//") else "/")
    reply.set_cookie(COOKIE, locale, max_age=365 * 86400, samesite="Lax", httponly=True)
    return reply
