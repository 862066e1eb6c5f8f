"""The application factory: `create_app(config=None)` wires settings, database, auth, blueprints.

Nothing here runs at import time and nothing imports this module; `flask --app app ...` and
gunicorn (`app:create_app()`) build the app through the factory.
"""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask, redirect, url_for

import config as settings
import errors
import i18n
import logs
from accounts import auth


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app; `config` overrides the environment's settings (tests)."""
    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.json.sort_keys = False  # keep the order we build (template options, reports) in replies
    app.json.ensure_ascii = False  # Chinese stays readable in API replies
    app.config.update(settings.from_environment())
    app.config.update(config or {})
    if not app.config.get("SECRET_KEY"):
        raise RuntimeError("QIANLING_SECRET_KEY is not set: run bin/setup, or export one "
                           "(python -c 'import secrets; print(secrets.token_hex(32))')")
    logs.init_app(app)  # text or JSON lines (LOG_FORMAT), secrets redacted, a request id each

    from extensions import db
    db.init_app(app)
    from admin import metrics
    metrics.init_app(app)  # request latency for /metrics; times even the requests auth refuses
    auth.init_app(app)
    errors.register_error_handlers(app)
    _register_blueprints(app)
    _register_commands(app)
    _register_pages(app)
    i18n.init_app(app)
    return app


def _register_blueprints(app: Flask) -> None:
    from accounts.routes import api as accounts_api
    from accounts.routes import pages as accounts_pages
    from admin.metrics import scrape as metrics_scrape
    from admin.pages import pages as admin_pages
    from admin.routes import api as admin_api
    from apidocs import docs as api_docs
    from background.routes import api as jobs_api
    from dashboard.pages import pages as dashboard_pages
    from exports.pages import pages as datasets_pages
    from exports.routes import api as exports_api
    from exports.routes import downloads
    from i18n.routes import pages as i18n_pages
    from projects.pages import pages as projects_pages
    from projects.routes import api as projects_api
    from projects.routes import media as media_pages
    from qa.pages import pages as qa_pages
    from qa.routes import api as qa_api
    from system import api as system_api
    from tasks.pages import workspace_pages
    from tasks.routes import api as tasks_api
    from vendor import vendor
    from workforce.routes import api as workforce_api

    for blueprint in (accounts_pages, accounts_api, jobs_api, projects_api, tasks_api, qa_api,
                      exports_api, system_api, media_pages, projects_pages, vendor, workforce_api,
                      workspace_pages, qa_pages, downloads, datasets_pages, i18n_pages, dashboard_pages, api_docs,
                      admin_pages, admin_api, metrics_scrape):
        app.register_blueprint(blueprint)


def _register_commands(app: Flask) -> None:
    from accounts.cli import users_cli
    from background.cli import jobs_cli, worker_command
    from demo.cli import demo_cli
    from projects.cli import projects_cli
    from schema import db_cli

    for command in (users_cli, jobs_cli, worker_command, db_cli, demo_cli, projects_cli):
        app.cli.add_command(command)


def _register_pages(app: Flask) -> None:

    @app.get("/")
    @auth.public
    def index():
        return redirect(url_for("dashboard.home"))


    @app.errorhandler(auth.Unauthenticated)
    def _to_login(err: auth.Unauthenticated):
        from flask import request
        if request.path.startswith("/api/"):
            return {"error": err.code, "message": err.message}, 401
        return redirect(url_for("accounts.login"))
