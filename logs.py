"""Log set-up: one root handler, plain text or one JSON object per line, that never prints secrets.

`init_app(app)` replaces a bare `logging.basicConfig`: with `LOG_FORMAT=json` (environment
`QIANLING_LOG_FORMAT=json`) each record becomes `{"time", "level", "logger", "message",
"request_id"?, "exc"?}` on one line, for a log shipper; otherwise the familiar text line. Either
way a `RedactingFilter` on the handler blanks API tokens (`qlt_...`), bearer/basic credentials,
`password=`/`token=`/`secret=` values, passwords inside URLs and the app's own secret values
(SECRET_KEY, the Label Studio token) from the message and the traceback before any handler writes.
`GunicornLogger` does the same to gunicorn's access log (paths carry signed download links).

As with `basicConfig`, a process whose root logger already has handlers (pytest, a host
application) keeps them; the request id is still set and sent back as `X-Request-ID`.
"""
from __future__ import annotations

import functools
import json
import logging
import re
import uuid
from datetime import datetime, timezone
from typing import IO, Iterable

from flask import Flask, Response, has_request_context, request
from gunicorn.glogging import Logger as _GunicornLogger

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
REDACTED = "[REDACTED]"
_ENVIRON_KEY = "qianling.request_id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_SECRET_KEY = r"[A-Za-z_]*(?:password|passwd|token|secret|api_key)[A-Za-z_]*"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"qlt_[A-Za-z0-9_-]+"), "qlt_" + REDACTED),
    # An Authorization header's value, whatever its scheme, then a bare "Bearer <token>".
    (re.compile(r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)[^\"',;}\r\n]+"), r"\1" + REDACTED),
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"), r"\1 " + REDACTED),
    # key=value (logs, query strings) and "key": "value" (JSON, dict reprs) where the key names a
    # secret: password=, api_token=, SECRET_KEY=, {"password": ...}. A bare "password: at least 8
    # characters" (a validation message) is left readable.
    (re.compile(r"(?i)\b(" + _SECRET_KEY + r"\s*=\s*)[^\s&,;]+"), r"\1" + REDACTED),
    (re.compile(r"(?i)([\"']" + _SECRET_KEY + r"[\"']\s*:\s*[\"']?)[^\"',}]+"), r"\1" + REDACTED),
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s]+@"), r"\1" + REDACTED + "@"),  # URL passwords
    (re.compile(r"(/downloads/)[^\s/?\"']+"), r"\1" + REDACTED),  # a signed download link is a credential
)


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with tokens, credentials and the given secret values blanked out."""
    for secret in secrets:
        if secret and len(secret) >= 6:  # a tiny "secret" would blank ordinary words
            text = text.replace(secret, REDACTED)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and traceback) with `redact`, so no handler sees a secret."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = redact(record.getMessage(), self.secrets), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self.secrets)
        return True


class GunicornLogger(_GunicornLogger):
    """gunicorn's own logger (`--logger-class logs.GunicornLogger`) with every access-log field
    redacted: its access log writes request paths and headers itself, past our handlers. Only
    the fields its format writes are redacted (gunicorn offers one per header; a request writes
    a handful)."""

    def atoms(self, resp, req, environ, request_time):  # type: ignore[no-untyped-def]
        found = super().atoms(resp, req, environ, request_time)
        written = _written_atoms(self.cfg.access_log_format)
        return {key: redact(value) if isinstance(value, str) and key.lower() in written else value
                for key, value in found.items()}


@functools.lru_cache(maxsize=8)
def _written_atoms(access_log_format: str) -> frozenset[str]:
    """The atoms a gunicorn access-log format writes (gunicorn looks them up case-insensitively)."""
    return frozenset(name.lower() for name in re.findall(r"%\(([^)]+)\)", access_log_format))


def request_id() -> str | None:
    """This request's id: the caller's `X-Request-ID` when well-formed, else a new one."""
    if not has_request_context():
        return None
    # Kept on the request itself: `g` belongs to the app context, which tests share across requests.
    if _ENVIRON_KEY not in request.environ:
        given = request.headers.get("X-Request-ID", "")
        request.environ[_ENVIRON_KEY] = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    return request.environ[_ENVIRON_KEY]


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, request_id, exc."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        rid = request_id()
        if rid is not None:
            entry["request_id"] = rid
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


def build_handler(log_format: str, secrets: Iterable[str] = (), stream: IO[str] | None = None) -> logging.Handler:
    """A stream handler (stderr by default) in `log_format` ("json" or "text") that redacts."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactingFilter(secrets))
    return handler


def _echo_request_id(response: Response) -> Response:
    response.headers.setdefault("X-Request-ID", request_id() or "")
    return response


def init_app(app: Flask) -> None:
    """Configure the root logger once per process, and give each request an id."""
    log_format = str(app.config.get("LOG_FORMAT") or "text").lower()
    if log_format not in ("json", "text"):
        raise RuntimeError(f"LOG_FORMAT: {log_format!r} is neither 'json' nor 'text'")
    secrets = [str(app.config.get(key) or "") for key in ("SECRET_KEY", "LABEL_STUDIO_TOKEN")]
    logging.basicConfig(level=logging.INFO, handlers=[build_handler(log_format, secrets)])
    app.after_request(_echo_request_id)
