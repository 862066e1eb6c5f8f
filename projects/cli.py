"""`flask projects import`: upload a data file to a job from the command line, with a progress bar."""
from __future__ import annotations

import time
from pathlib import Path

import click
from flask.cli import AppGroup

from accounts.models import User
from background.models import JobRecord, JobStatus
from errors import QianlingError
from extensions import db
from projects import imports
from projects.models import Project, Upload

projects_cli = AppGroup("projects", help="Labeling jobs.")


@projects_cli.command("import")
@click.argument("project_id", type=int)
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--skip-bad-rows", is_flag=True, help="Import the good rows even if some are invalid.")
@click.option("--gold-field", default=None, help="Column holding known answers (gold tasks).")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Follow the import job.")
def import_command(project_id: int, path: Path, skip_bad_rows: bool, gold_field: str | None, wait: bool) -> None:
    """Import PATH into job PROJECT_ID (queued as an RQ job; `flask worker` runs it)."""
    project = db.session.get(Project, project_id)
    if project is None:
        raise click.ClickException(f"project {project_id} not found")
    owner = db.session.get(User, project.created_by_id) if project.created_by_id else None
    try:
        with path.open("rb") as stream:
            upload, job = imports.receive(db.session, owner, project, stream, path.name,
                                          skip_bad_rows=skip_bad_rows, gold_field=gold_field)
    except QianlingError as err:
        raise click.ClickException(err.message) from None
    click.echo(f"upload {upload.id} queued as job {job.id}")
    if wait:
        _follow(job.id, upload.id)


def _follow(job_id: int, upload_id: int) -> None:
    started = time.monotonic()
    with click.progressbar(length=1000, label="importing", show_percent=True) as bar:
        while True:
            db.session.expire_all()
            job = db.session.get(JobRecord, job_id)
            bar.update(int(job.progress * 1000) - bar.pos)
            if job.status in (JobStatus.FINISHED, JobStatus.FAILED):
                break
            if job.status == JobStatus.QUEUED and time.monotonic() - started > 15:
                click.echo("\nstill queued: is a worker running? (flask worker)", err=True)
                started = float("inf")
            time.sleep(0.5)
    report = db.session.get(Upload, upload_id).report()
    click.echo(f"{report['phase']}: {report['created']} created, {report['duplicates']} duplicates, "
               f"{report['error_count']} bad rows")
    for line in report["errors"][:20]:
        click.echo(f"  {line}", err=True)
    if job.status == JobStatus.FAILED:
        raise click.ClickException(f"the import job failed: {job.error}")
    if report["phase"] == "rejected":
        raise click.ClickException("nothing was imported; fix the rows above or use --skip-bad-rows")
