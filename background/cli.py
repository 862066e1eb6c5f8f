"""`flask worker` and `flask jobs requeue`: run the RQ worker inside the app's context."""
from __future__ import annotations

import click
from flask.cli import AppGroup, with_appcontext
from rq import Worker

from background.queues import QUEUES, queue, requeue_unfinished
from extensions import db


@click.command("worker")
@click.option("--queues", "names", default=",".join(QUEUES), show_default=True,
              help="Comma-separated queue names, in priority order.")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option("--name", default=None, help="Worker name (default: RQ's).")
@with_appcontext
def worker_command(names: str, burst: bool, name: str | None) -> None:
    """Run an RQ worker; each job runs in a forked process that inherits this app context."""
    queues = [queue(n.strip()) for n in names.split(",") if n.strip()]
    Worker(queues, connection=queues[0].connection, name=name).work(burst=burst, with_scheduler=True)


jobs_cli = AppGroup("jobs", help="Background job maintenance.")


@jobs_cli.command("requeue")
def requeue_command() -> None:
    """Queue again every unfinished job record (after Redis lost its data)."""
    count = requeue_unfinished(db.session)
    click.echo(f"requeued {count} job(s)")
