"""System health: is the platform and each service it depends on up (`/api/system/health`)."""
from __future__ import annotations

from typing import Any

from flask import Blueprint
from sqlalchemy import text

from accounts.auth import public, requires
from accounts.models import Role
from errors import QianlingError
from extensions import db, redis_connection
from labelstudio.gateway import Gateway

api = Blueprint("system_api", __name__, url_prefix="/api/system")


@api.get("/health")
@public
def health():
    """Liveness for load balancers: the app answers and its database works."""
    db.session.execute(text("SELECT 1"))
    return {"status": "up"}


def _check_label_studio() -> None:
    with Gateway.from_app() as gateway:
        gateway.check()


@api.get("/services")
@requires(Role.ADMIN, Role.MANAGER)
def services():
    """Each dependency's state, with the reason when it is down."""
    checks: dict[str, Any] = {}
    for name, probe in (("database", lambda: db.session.execute(text("SELECT 1"))),
                        ("redis", lambda: redis_connection().ping()),
                        ("label_studio", _check_label_studio)):
        try:
            probe()
            checks[name] = {"up": True}
        except QianlingError as err:
            checks[name] = {"up": False, "reason": err.message}
        except Exception as err:  # a probe must report, not fail the page
            checks[name] = {"up": False, "reason": f"{type(err).__name__}: {err}"}
    return {"services": checks, "all_up": all(c["up"] for c in checks.values())}, 200
