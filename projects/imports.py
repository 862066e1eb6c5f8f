"""Importing uploaded data into a job: receive the file, then validate and import it in an RQ job.

The import streams: the file is read once, row by row, and never held in memory, so a
1,000,000-row CSV imports in flat memory. Inserts go in chunks, each committed together with the
upload's `rows_committed`, so a crash or restart resumes after the last committed chunk without
duplicating a task. It is all-or-nothing unless the manager chose to skip bad rows: a bad row
stops the storing, the scan goes on to report every bad row, and what the upload had stored is
taken back. Nothing of an unfinished upload is handed out meanwhile: tasks are distributed only
once they are in Label Studio, and publishing follows the finished import. Duplicates (same
content hash) are detected within the file and against everything the job already holds.
"""
from __future__ import annotations

import logging
import shutil
import uuid
from pathlib import Path
from typing import BinaryIO, Iterator

from flask import current_app
from sqlalchemy import delete
from sqlalchemy.orm import Session

from accounts.models import User
from background.models import JobRecord
from background.queues import enqueue
from background.runner import report_progress
from errors import Conflict, InvalidInput
from extensions import db, one_at_a_time, utcnow
from projects import label_config
from projects.batches import Batcher, recount_batches
from projects.bulk import insert_tasks, known_hashes, to_json
from projects.intake import IntakeError, Item, RowError, detect_format, read_items
from projects.media import MediaStore, read_zip
from projects.models import Project, ProjectStatus, Upload, UploadPhase
from tasks.models import Task

logger = logging.getLogger(__name__)
ZIP_FIELDS = frozenset({"image", "file"})  # what each image of a zip upload becomes
MEDIA_URL = "/media/"  # where the app serves stored images (the embedded editor shares its origin)
CHUNK = 10_000  # rows per insert-and-commit: the unit of resumption
MAX_LISTED = 200  # errors and duplicates listed in a report (all are counted)


def uploads_dir() -> Path:
    path = Path(current_app.config["DATA_DIR"]) / "uploads"
    path.mkdir(parents=True, exist_ok=True)
    return path


def receive(session: Session, user: User, project: Project, stream: BinaryIO, filename: str, *,
            skip_bad_rows: bool = False, gold_field: str | None = None) -> tuple[Upload, JobRecord]:
    """Store the uploaded file and queue its import; return the upload and its job."""
    if project.status in (ProjectStatus.COMPLETED, ProjectStatus.ARCHIVED):
        raise Conflict(f"the job is {project.status.value}; data can no longer be added")
    try:
        fmt = detect_format(filename)
    except IntakeError as err:
        raise InvalidInput(str(err)) from None
    stored = f"{uuid.uuid4().hex}.{fmt}"
    target = uploads_dir() / stored
    with target.open("wb") as out:
        shutil.copyfileobj(stream, out, 1024 * 1024)
    upload = Upload(project_id=project.id, filename=filename[:255], stored_as=stored, format=fmt,
                    size_bytes=target.stat().st_size, skip_bad_rows=skip_bad_rows,
                    gold_field=gold_field, created_by_id=user.id)
    session.add(upload)
    session.flush()
    job = enqueue(session, "project.import", import_upload, upload.id, queue_name="intake",
                  created_by_id=user.id)
    upload.job_id = job.id
    session.commit()
    return upload, job


def media_store() -> MediaStore:
    return MediaStore(Path(current_app.config["DATA_DIR"]) / "media")


def _entries(upload: Upload, config: label_config.LabelConfig) -> Iterator[Item | RowError]:
    path = uploads_dir() / upload.stored_as
    with path.open("rb") as stream:
        if upload.format != "zip":
            yield from read_items(stream, upload.filename, format=upload.format,
                                  required_fields=config.data_fields, gold_field=upload.gold_field)
            return
        unmet = sorted(config.data_fields - ZIP_FIELDS)
        if unmet:
            raise IntakeError(upload.filename, f"the label config needs field(s) {', '.join(unmet)}, "
                                               f"which a zip of images cannot provide (it gives: image, file)")
        yield from read_zip(stream, upload.filename, media_store(), url_prefix=MEDIA_URL)


def import_upload(upload_id: int) -> dict:
    """The job: read the file once, inserting new items in resumable chunks; see the module doc."""
    with db.new_session() as session:
        upload = session.get(Upload, upload_id)
        if upload is None:
            raise LookupError(f"upload {upload_id} does not exist")
        project = session.get(Project, upload.project_id)
        if upload.phase in (UploadPhase.RECEIVED, UploadPhase.IMPORTING):
            upload.phase = UploadPhase.IMPORTING
            session.commit()
            with one_at_a_time(session, "import", project.id):  # one import per job at a time
                try:
                    _import(session, upload, project, label_config.parse(project.label_config))
                except IntakeError as err:  # the file as a whole is unreadable
                    session.rollback()
                    _reject(session, upload, [str(err)], 1)
        if upload.phase == UploadPhase.DONE and project.status == ProjectStatus.ACTIVE and upload.created:
            from projects.jobs import publish_to_label_studio
            enqueue(session, "project.publish", publish_to_label_studio, project.id,
                    queue_name="labelstudio", created_by_id=upload.created_by_id)
        logger.info("event=import_done upload_id=%s phase=%s created=%s duplicates=%s errors=%s",
                    upload_id, upload.phase.value, upload.created, upload.duplicates, upload.error_count)
        return upload.report()


def _import(session: Session, upload: Upload, project: Project, config: label_config.LabelConfig) -> None:
    """One pass: good rows go in by chunks; after the first bad row of an all-or-nothing import
    nothing more is stored, but the scan goes on so the report lists every bad row."""
    batcher = Batcher(session, project)
    chunk: list[Item] = []
    errors, error_count = list(upload.errors), upload.error_count
    done = n = upload.rows_committed
    for n, entry in enumerate(_entries(upload, config), start=1):
        if n <= done:
            continue  # committed by an earlier, interrupted run
        if isinstance(entry, RowError):
            error_count += 1
            if len(errors) < MAX_LISTED:
                errors.append(str(entry))
        elif upload.skip_bad_rows or not error_count:
            chunk.append(entry)
        if len(chunk) == CHUNK:
            upload.errors, upload.error_count = errors, error_count
            _commit_chunk(session, upload, batcher, chunk, n)
            chunk = []
    upload.rows_total = n
    if error_count and not upload.skip_bad_rows:
        _reject(session, upload, errors, error_count)
        return
    upload.errors, upload.error_count = errors, error_count
    _commit_chunk(session, upload, batcher, chunk, n)
    upload.phase = UploadPhase.DONE
    session.commit()


def _reject(session: Session, upload: Upload, errors: list[str], count: int) -> None:
    """All-or-nothing import with bad rows: take back what this upload stored."""
    session.execute(delete(Task).where(Task.upload_id == upload.id))
    recount_batches(session, upload.project_id)
    upload.phase, upload.errors, upload.error_count = UploadPhase.REJECTED, errors, count
    upload.created, upload.duplicates, upload.duplicate_rows = 0, 0, []
    session.commit()


def _commit_chunk(session: Session, upload: Upload, batcher: Batcher, chunk: list[Item], through: int) -> None:
    first: dict[str, Item] = {}
    repeats: list[int] = []
    for item in chunk:
        if item.content_hash in first:
            repeats.append(item.line)
        else:
            first[item.content_hash] = item
    known = known_hashes(session, upload.project_id, list(first))
    repeats += [item.line for h, item in first.items() if h in known]
    now, project_id, upload_id = str(utcnow()), upload.project_id, upload.id  # formatted once
    rows = [[project_id, None if item.gold is not None else batcher.assign(item.data), upload_id,
             item.json(), h, item.gold is not None, to_json(item.gold), item.line, 0, 0, True, now]
            for h, item in first.items() if h not in known]  # in bulk.COLUMNS' order
    real = batcher.materialize()
    for row in rows:
        if row[1] is not None and row[1] < 0:
            row[1] = real[row[1]]
    insert_tasks(session, [tuple(row) for row in rows])
    batcher.save()
    upload.created += len(rows)
    upload.duplicates += len(repeats)
    room = MAX_LISTED - len(upload.duplicate_rows)
    if room > 0 and repeats:
        upload.duplicate_rows = upload.duplicate_rows + [
            f"{upload.filename}, line {line}: already in this job" for line in sorted(repeats)[:room]]
    upload.rows_committed = through
    session.commit()
    report_progress(through, max(through, upload.rows_total, 1), f"imported {upload.created} items")
