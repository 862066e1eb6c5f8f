"""The UI's languages: Simplified Chinese, English, or both side by side, chosen per user.

Templates and scripts are written with English message ids (`_("Jobs")` in Jinja, `QL.t("...")`
in static/js); `translations/zh_CN/LC_MESSAGES/messages.po` gives the Chinese. A signed-in user's
choice is kept on their account (`User.locale`), a visitor's in a cookie; until someone chooses,
pages are bilingual ("标注任务 / Jobs"), which is how mixed teams at the annotation bases read them.
Dates (China time) and numbers are formatted with Babel for the chosen language.
"""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_datetime as babel_datetime
from babel.dates import get_timezone
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from flask import Flask, g, request

LOCALES = {"zh_CN": "简体中文", "en": "English", "bilingual": "中文 / English"}
DEFAULT = "bilingual"
COOKIE = "ql_lang"
CATALOG = Path(__file__).parent / "translations" / "zh_CN" / "LC_MESSAGES" / "messages.po"
CHINA = get_timezone("Asia/Shanghai")


@lru_cache(maxsize=1)
def chinese() -> dict[str, str]:
    """English message id -> Chinese text, from the catalog."""
    with CATALOG.open("rb") as source:
        catalog = read_po(source, locale="zh_CN")
    return {m.id: m.string for m in catalog if m.id and isinstance(m.id, str) and m.string}


def current_locale() -> str:
    """The user's saved choice, else the visitor's cookie, else bilingual."""
    user = g.get("user")
    chosen = getattr(user, "locale", None) or request.cookies.get(COOKIE)
    return chosen if chosen in LOCALES else DEFAULT


def translate(message: str, locale: str) -> str:
    zh = chinese().get(message)
    if zh is None or locale == "en":
        return message
    return zh if locale == "zh_CN" else f"{zh} / {message}"


def gettext(message: str, **values: Any) -> str:
    """`message` in the current language, with %(name)s placeholders filled from `values`."""
    text = translate(message, current_locale())
    return text % values if values else text


def js_catalog() -> dict[str, str]:
    """Every message in the current language, for `QL.t` in the browser."""
    return _catalog(current_locale())


@lru_cache(maxsize=len(LOCALES))
def _catalog(locale: str) -> dict[str, str]:
    return {} if locale == "en" else {message: translate(message, locale) for message in chinese()}


def babel_locale() -> Locale:
    return Locale.parse("en" if current_locale() == "en" else "zh_CN")


def format_datetime(value: datetime | None, format: str = "medium") -> str:
    """A stored UTC time as China time in the current language ("2026年11月22日 14:42:05")."""
    if value is None:
        return "—"
    return babel_datetime(value.replace(tzinfo=value.tzinfo or timezone.utc), format, tzinfo=CHINA,
                          locale=babel_locale())


def format_number(value: float | int | None, digits: int | None = None) -> str:
    if value is None:
        return "—"
    pattern = None if digits is None else "#,##0." + "0" * digits
    return format_decimal(value, format=pattern, locale=babel_locale())


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(_=gettext, js_catalog=js_catalog, current_locale=current_locale,
                                 locales=LOCALES)
    app.jinja_env.filters.update(datetime=format_datetime, number=format_number)
