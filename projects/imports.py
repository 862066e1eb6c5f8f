"""Importing uploaded data into a job: receive the file, then validate and import it in an RQ job.

The import streams: the file is read once, row by row, and never held in memory, so a
1,000,000-row CSV imports in flat memory. Inserts go in chunks, each committed together with the
upload's `rows_committed`, so a crash or restart resumes after the last committed chunk without
duplicating a task. It is all-or-nothing unless the manager chose to skip bad rows: a bad row
stops the storing, the scan goes on to report every bad row, and what the upload had stored is
taken back. Nothing of an unfinished upload is handed out meanwhile: tasks are distributed only
once they are in Label Studio, and publishing follows the finished import. Duplicates (same
content hash) are detected within the file and against everything the job already holds.

Speed: a chunk keeps compact row tuples, not parsed items; batches are placed a run at a time;
a chunk is inserted on the bet that the job holds none of its content, and only when the unique
index says otherwise is it rolled back, its known hashes probed and the rest inserted (later
chunks probe first until one holds nothing known); the next chunk is parsed (projects.chunks)
while the one before is inserted, see READ_AHEAD_DIALECTS; and PostgreSQL gets COPY data made
by the parser, joined a batch at a time here (projects.bulk), each INSERT checked against the
job once, not per row (migration 0002).
"""
from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import Iterable, Iterator
from contextlib import closing, nullcontext
from pathlib import Path
from typing import Any, BinaryIO

from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from accounts.models import User
from background.models import JobRecord
from background.queues import enqueue
from background.runner import report_progress
from background.upkeep import refresh_statistics
from errors import Conflict, InvalidInput
from extensions import db, one_at_a_time, upsert_insert, utcnow
from projects import chunks, label_config
from projects.batches import Batcher, batch_ids, recount_batches
from projects.bulk import KnownContent, copy_tails, insert_runs, insert_tasks, known_hashes, timestamp, to_json
from projects.chunks import MAX_LISTED, Chunk, Resume, Scan
from projects.intake import IntakeError, Item, RowError, detect_format, read_items
from projects.media import MediaStore, read_zip
from projects.models import MediaUse, Project, ProjectStatus, Upload, UploadPhase
from readahead import prompt_gil, read_ahead, read_ahead_process
from tasks.models import Task

logger = logging.getLogger(__name__)
ZIP_FIELDS = frozenset({"image", "file"})  # what each image of a zip upload becomes
MEDIA_URL = "/media/"  # where the app serves stored images (the embedded editor shares its origin)
# Rows per insert-and-commit: the unit of resumption (~300 bytes of memory each). SQLite writes
# every page a transaction changed to its log at commit, and the unique content-hash index takes
# rows at random places, so each 20,000-row commit rewrote most of that index: 50,000 a commit
# made its 1M-row import ~20 % faster (100,000: ~25 %, for twice the memory). PostgreSQL logs
# only the changes; there the chunk bounds the statement trigger's transition table (migration
# 0002), which spills past work_mem.
CHUNK = {"postgresql": 20_000, "sqlite": 50_000}
# Where the file is parsed while the chunk before is inserted. A database working in a process of
# its own (PostgreSQL) is fed from this thread while a thread parses (readahead.read_ahead, with
# prompt_gil). SQLite works in this thread, and lets go of the GIL once per row, so a parsing
# thread would stall it: a file at least PARSE_APART_BYTES large is parsed in a process of its own
# (readahead.read_ahead_process; ~0.1 s to start; for PostgreSQL, pickling the chunks across the
# pipe cost more CPU than it freed: 53k rows/s against 65k); a smaller file in this thread, each
# chunk parsed between two inserts.
READ_AHEAD_DIALECTS = frozenset({"postgresql"})
PARSE_APART_BYTES = 4 << 20


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
    """The upload's items and bad rows. Reads the upload's fields now and the file lazily, so
    the iterator may run in another thread (see `readahead`)."""
    path, file, fmt, gold_field = uploads_dir() / upload.stored_as, upload.filename, upload.format, upload.gold_field
    store = media_store() if fmt == "zip" else None
    return _read_file(path, file, fmt, config.data_fields, gold_field, store)


def _read_file(path: Path, file: str, fmt: str, fields: frozenset[str], gold_field: str | None,
               store: MediaStore | None) -> Iterator[Item | RowError]:
    with path.open("rb") as stream:
        if store is None:
            yield from read_items(stream, file, format=fmt, required_fields=fields, gold_field=gold_field)
            return
        unmet = sorted(fields - ZIP_FIELDS)
        if unmet:
            raise IntakeError(file, f"the label config needs field(s) {', '.join(unmet)}, "
                                    f"which a zip of images cannot provide (it gives: image, file)")
        yield from read_zip(stream, file, store, url_prefix=MEDIA_URL)


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
        if upload.phase == UploadPhase.DONE and upload.created:
            refresh_statistics(session, Task)
            if project.status == ProjectStatus.ACTIVE:
                from projects.jobs import publish_to_label_studio
                enqueue(session, "project.publish", publish_to_label_studio, project.id,
                        queue_name="labelstudio", created_by_id=upload.created_by_id)
        logger.info("event=import_done upload_id=%s phase=%s created=%s duplicates=%s errors=%s",
                    upload_id, upload.phase.value, upload.created, upload.duplicates, upload.error_count)
        return upload.report()


def _import(session: Session, upload: Upload, project: Project, config: label_config.LabelConfig) -> None:
    """One pass over the file: every full chunk is committed as it comes; see `projects.chunks.scan`."""
    batcher, dialect = Batcher(session, project), session.get_bind().dialect.name
    resume = Resume(upload.rows_committed, list(upload.errors), upload.error_count, upload.skip_bad_rows)
    size, tail, quick = CHUNK[dialect], copy_tails(dialect), nullcontext()
    if dialect in READ_AHEAD_DIALECTS:
        scans = read_ahead(chunks.scan(_entries(upload, config), resume, size, batcher.field, tail),
                           name="import-read-ahead")
        quick = prompt_gil()
    elif upload.format != "zip" and upload.size_bytes >= PARSE_APART_BYTES:
        scans = read_ahead_process(chunks.scan_file, (uploads_dir() / upload.stored_as).resolve(), upload.filename,
                                   upload.format, config.data_fields, upload.gold_field, resume, size,
                                   batcher.field, tail)
    else:
        scans = chunks.scan(_entries(upload, config), resume, size, batcher.field, tail)
    probe = False  # whether to ask for known content before inserting, see _commit_chunk
    with closing(scans), quick:  # closing, also on a failure: stops a read-ahead thread or process at once
        for part in scans:
            if part.finished and part.error_count and not upload.skip_bad_rows:
                upload.rows_total = part.through
                _reject(session, upload, part.errors, part.error_count)
                return
            probe = _commit_chunk(session, upload, batcher, part, probe)
            if part.finished:
                if upload.format == "zip":
                    _record_media(session, upload)
                upload.phase = UploadPhase.DONE
                session.commit()
            del part  # why: the next chunk arrives before the loop would let go of this one


def _record_media(session: Session, upload: Upload) -> None:
    """A zip import is finishing: the images its tasks show now belong to the job (MediaUse),
    in the commit that finishes it. Task data from other files may name a stored image too, but
    that opens nothing: only an image uploaded into the job is shown with it."""
    image = Task.data["image"].as_string()
    names = (select(Task.project_id, func.substr(image, len(MEDIA_URL) + 1))
             .where(Task.project_id == upload.project_id, Task.upload_id == upload.id, image.startswith(MEDIA_URL))
             .distinct())
    session.execute(upsert_insert(session, MediaUse).from_select(["project_id", "name"], names)
                    .on_conflict_do_nothing())


def _runs(chunk: Chunk, new: Iterable[tuple[bytes, tuple]], batches: list[tuple[int, int]], project_id: int,
          upload_id: int, now: Any) -> Iterator[tuple[tuple[Any, ...], list[bytes]]]:
    """The chunk's `new` rows as `bulk.insert_runs` takes them, in file order: a run per batch,
    joined without a step per row, when the chunk holds no gold row; else a run per row."""
    tails = [row[4] for _, row in new]
    if not chunk.golds:
        start = 0
        for batch, count in batches:
            yield (project_id, batch, upload_id, False, None, 0, 0, True, now), tails[start:start + count]
            start += count
        return
    ids = batch_ids(batches)
    for (_, row), tail in zip(new, tails, strict=True):
        gold = row[2]
        yield ((project_id, None, upload_id, True, to_json(gold), 0, 0, True, now) if gold is not None else
               (project_id, next(ids), upload_id, False, None, 0, 0, True, now)), [tail]


def _reject(session: Session, upload: Upload, errors: list[str], count: int) -> None:
    """All-or-nothing import with bad rows: take back what this upload stored."""
    session.execute(delete(Task).where(Task.upload_id == upload.id))
    recount_batches(session, upload.project_id)
    upload.phase, upload.errors, upload.error_count = UploadPhase.REJECTED, errors, count
    upload.created, upload.duplicates, upload.duplicate_rows = 0, 0, []
    session.commit()


def _commit_chunk(session: Session, upload: Upload, batcher: Batcher, scan: Scan, probe: bool) -> bool:
    """Insert the chunk's rows that the job does not hold yet, and commit them together with
    `rows_committed`: the point an interrupted import resumes from. Unless `probe`, first bet
    that the job holds none of them; on losing, roll back and probe. Returns whether the chunk
    held known content (so the next one probes first)."""
    if not probe:
        try:
            _store(session, upload, batcher, scan, set())
            return False
        except KnownContent:
            session.rollback()  # the chunk's batches and tasks; the scan's figures are re-applied
            batcher.reload()
    known = known_hashes(session, upload.project_id, list(scan.chunk.rows))
    _store(session, upload, batcher, scan, known)
    return bool(known)


def _store(session: Session, upload: Upload, batcher: Batcher, scan: Scan, known: set[bytes]) -> None:
    """Insert and commit the chunk's rows but those with `known` content; see _commit_chunk."""
    chunk, through = scan.chunk, scan.through
    upload.errors, upload.error_count = scan.errors, scan.error_count
    if scan.finished:
        upload.rows_total = through
    if known:  # only after the job was found holding some of the chunk's content
        new = [(h, row) for h, row in chunk.rows.items() if h not in known]
        repeats = chunk.repeats + [chunk.rows[h][0] for h in known]
    else:
        new, repeats = chunk.rows.items(), chunk.repeats
    batches = batcher.place_runs([row[3] for _, row in new if row[2] is None])  # the groups of non-gold rows
    now, project_id, upload_id = timestamp(session, utcnow()), upload.project_id, upload.id  # made once
    if chunk.tail is not None:
        insert_runs(session, _runs(chunk, new, batches, project_id, upload_id, now))
    else:
        ids = batch_ids(batches)
        insert_tasks(session, (
            (project_id, None if gold is not None else next(ids), upload_id, text, h, gold is not None,
             None if gold is None else to_json(gold), line, 0, 0, True, now)  # in bulk.COLUMNS' order
            for h, (line, text, gold, _, _) in new))
    upload.created += len(new)
    upload.duplicates += len(repeats)
    room = MAX_LISTED - len(upload.duplicate_rows)
    if room > 0 and repeats:
        upload.duplicate_rows = upload.duplicate_rows + [
            f"{upload.filename}, line {line}: already in this job" for line in sorted(repeats)[:room]]
    upload.rows_committed = through
    session.commit()
    report_progress(through, max(through, upload.rows_total, 1), f"imported {upload.created} items")
