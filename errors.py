"""Domain errors and how the HTTP layer shows them.

Services raise these; `register_error_handlers` turns them (and Werkzeug's HTTP errors) into JSON
for `/api/...` and a plain page elsewhere, so a user always gets a status and a sentence, never a
stack trace.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException

logger = logging.getLogger(__name__)


class QianlingError(Exception):
    """An error a user can act on: it carries the HTTP status and a clear message."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: list[Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class NotFound(QianlingError):
    status, code = 404, "not_found"


class Forbidden(QianlingError):
    status, code = 403, "forbidden"


class Conflict(QianlingError):
    status, code = 409, "conflict"


class InvalidInput(QianlingError):
    status, code = 422, "invalid_input"


class TooManyRequests(QianlingError):
    status, code = 429, "too_many_requests"


class ServiceUnavailable(QianlingError):
    status, code = 503, "service_unavailable"


def json_object(optional: bool = False) -> dict[str, Any]:
    """The request's JSON body, which must be an object (or absent, when `optional`: then {});
    InvalidInput otherwise."""
    body = request.get_json(silent=True)
    if body is None and optional and not request.get_data(cache=True):
        return {}
    if not isinstance(body, dict):
        raise InvalidInput("body: send a JSON object")
    return body


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _respond(status: int, code: str, message: str, details: list[Any] | None = None):
    if _wants_json():
        body: dict[str, Any] = {"error": code, "message": message}
        if details:
            body["details"] = details
        return jsonify(body), status
    return render_template("error.html", status=status, message=message, details=details), status


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(QianlingError)
    def _domain(err: QianlingError):
        return _respond(err.status, err.code, err.message, err.details)

    @app.errorhandler(CSRFError)
    def _csrf(err: CSRFError):
        return _respond(400, "csrf_failed", f"CSRF check failed: {err.description}")

    @app.errorhandler(HTTPException)
    def _http(err: HTTPException):
        code = (err.name or "error").lower().replace(" ", "_")
        return _respond(err.code or 500, code, err.description or err.name)

    @app.errorhandler(DataError)  # PostgreSQL
    @app.errorhandler(OverflowError)  # SQLite's driver
    def _out_of_range(err: Exception):  # e.g. an id in the URL beyond what the database holds
        return _respond(422, "invalid_input", "a value in the request is out of range for this field")

    @app.errorhandler(OperationalError)
    def _database_down(err: OperationalError):
        logger.warning("event=database_unavailable path=%s error=%s", request.path, str(err).splitlines()[0])
        return _respond(503, "service_unavailable", "the database is unavailable; try again in a moment")

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        logger.exception("event=unhandled_error path=%s", request.path)
        return _respond(500, "internal_error", "Internal error; it has been logged.")
