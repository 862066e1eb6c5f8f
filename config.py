"""Settings: one place that turns the environment into the app's configuration.

Everything a deployment can change comes from environment variables (see README, "Configuration");
`create_app(config=...)` overrides any of them for tests. Secrets have no defaults in the code: the
set-up script generates them into `.run/secrets.env`, which git ignores.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

ROOT = Path(__file__).resolve().parent


def _bool(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def from_environment(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read the app's settings from `env` (default: the process environment)."""
    env = os.environ if env is None else env
    data_dir = Path(env.get("QIANLING_DATA_DIR") or ROOT / "var")
    return {
        "SECRET_KEY": env.get("QIANLING_SECRET_KEY"),
        "DATA_DIR": data_dir,
        "DATABASE_URL": env.get("DATABASE_URL") or f"sqlite:///{data_dir / 'qianling.db'}",
        "REDIS_URL": env.get("REDIS_URL") or "redis://127.0.0.1:6479/0",
        "LABEL_STUDIO_URL": env.get("LABEL_STUDIO_URL") or "http://127.0.0.1:8480",
        "LABEL_STUDIO_TOKEN": env.get("LABEL_STUDIO_TOKEN"),
        "LABEL_STUDIO_TIMEOUT": float(env.get("LABEL_STUDIO_TIMEOUT") or 30),
        # False runs RQ jobs inline in the caller (unit tests only); a deployment always queues.
        "QUEUE_ASYNC": _bool(env.get("QIANLING_QUEUE_ASYNC"), True),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool(env.get("QIANLING_SECURE_COOKIES"), False),
        "MAX_CONTENT_LENGTH": int(env.get("QIANLING_MAX_UPLOAD_MB") or 512) * 1024 * 1024,
        "WTF_CSRF_CHECK_DEFAULT": False,  # checked in accounts.auth, where API tokens are told apart
        "WTF_CSRF_TIME_LIMIT": None,
        "LOG_FORMAT": env.get("QIANLING_LOG_FORMAT") or "text",  # "json": one object per line (logs.py)
        "TESTING": False,
    }
