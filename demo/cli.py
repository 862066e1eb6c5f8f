"""`flask demo ...`: demo accounts and the end-to-end slice against a running platform."""
from __future__ import annotations

import os

import click
from flask.cli import AppGroup
from sqlalchemy import select

from accounts.models import User
from accounts.service import create_user
from demo.slice import open_jobs, run_slice
from extensions import db

demo_cli = AppGroup("demo", help="Demo accounts and data.")
DEMO_USERS = [("admin", "admin", "管理员 Admin"), ("manager", "manager", "项目经理 Manager"),
              ("annotator1", "annotator", "标注员一 Annotator 1"),
              ("annotator2", "annotator", "标注员二 Annotator 2"),
              ("annotator3", "annotator", "标注员三 Annotator 3"),
              ("reviewer", "reviewer", "审核员 Reviewer"), ("buyer", "buyer", "数据买家 Buyer")]


def demo_password() -> str:
    password = os.environ.get("QIANLING_DEMO_PASSWORD", "")
    if len(password) < 8:
        raise click.ClickException("QIANLING_DEMO_PASSWORD (8+ characters) is not set; bin/setup makes one")
    return password


@demo_cli.command("users")
def users_command() -> None:
    """Create the demo accounts that do not exist yet (password: $QIANLING_DEMO_PASSWORD)."""
    password = demo_password()
    for username, role, name in DEMO_USERS:
        if db.session.scalar(select(User).where(User.username == username)) is None:
            create_user(db.session, username, f"{username}@demo.qianling.local", password, role, name)
            click.echo(f"created {username} ({role})")
    db.session.commit()


@demo_cli.command("slice")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True)
@click.option("--items", default=30, show_default=True)
def slice_command(base_url: str, items: int) -> None:
    """Run the whole slice (job → Label Studio → labels → QA → dataset → buyer) over HTTP."""
    password = demo_password()
    logins = {name: (name, password) for name, _role, _label in DEMO_USERS}
    result = run_slice(base_url, logins, items=items, log=click.echo)
    click.echo(f"done: job {result.project['id']}, dataset {result.dataset['id']} "
               f"with {len(result.downloaded)} agreed items")


@demo_cli.command("open-jobs")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True)
def open_jobs_command(base_url: str) -> None:
    """Publish demo jobs (entities in judgments, defect boxes on power-line pictures) left open."""
    password = demo_password()
    open_jobs(base_url, {name: (name, password) for name, _role, _label in DEMO_USERS}, log=click.echo)
