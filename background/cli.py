"""`flask worker` and `flask jobs requeue`: run the RQ worker inside the app's context."""
from __future__ import annotations

import click
from flask.cli import AppGroup, with_appcontext
from rq import Worker

from background.queues import QUEUES, queue, requeue_unfinished
from background.recovery import recover_orphans
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
    recovered = recover_orphans(queues[0].connection, db.session)
    if recovered:
        click.echo(f"requeued {len(recovered)} job(s) left started by a dead worker: {', '.join(recovered)}")
    Worker(queues, connection=queues[0].connection, name=name).work(burst=burst, with_scheduler=True)


jobs_cli = AppGroup("jobs", help="Background job maintenance.")


@jobs_cli.command("requeue")
def requeue_command() -> None:
    """Queue again every unfinished job record and every undelivered annotation (after Redis
    lost its data), and the jobs of dead workers."""
    from tasks.jobs import redeliver_pending

    recovered = recover_orphans(queue(next(iter(QUEUES))).connection, db.session)
    count = requeue_unfinished(db.session)
    click.echo(f"requeued {count} job(s), {len(recovered)} from dead workers; "
               f"delivered {redeliver_pending()} pending annotation(s) to Label Studio")
