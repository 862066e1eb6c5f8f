"""Background dataset builds: one RQ job per version, from its jobs' agreed items to finished files.

The version is written into a scratch folder, its digests computed, the folder renamed into
place and only then the rows (files, card, sha256) committed; a rerun after a crash starts the
scratch folder afresh and writes the same bytes. A build that cannot succeed (a format that does
not fit the job, an image that is not stored here) marks the version failed with the reason.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path

from flask import current_app
from sqlalchemy import delete, select

from background.runner import report_progress
from exports.build import VersionBuilder, file_digests, replace_folder, version_digest
from exports.models import Dataset, DatasetFile, DatasetStatus
from extensions import db, utcnow
from projects.imports import media_store
from projects.models import Project

logger = logging.getLogger(__name__)


def datasets_dir() -> Path:
    path = Path(current_app.config["DATA_DIR"]) / "datasets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def version_dir(dataset_id: int) -> Path:
    return datasets_dir() / str(dataset_id)


def build_dataset(dataset_id: int) -> int:
    """Build a dataset version's files; return its item count."""
    with db.new_session() as session:
        if session.get_bind().dialect.name == "postgresql":
            # One snapshot for every query: the items, their annotations and the card's figures are
            # read separately, and a QA run committing meanwhile must not make them disagree.
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            raise LookupError(f"dataset {dataset_id} does not exist")
        projects = list(session.scalars(select(Project).where(Project.id.in_(dataset.project_ids)).order_by(Project.id)))
        scratch = datasets_dir() / f"{dataset_id}.partial"
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir()
        report_progress(0, 3, "writing items")
        try:
            builder = VersionBuilder(session, projects, dataset.options, current_app.config["SECRET_KEY"], media_store())
            builder.write(scratch, dataset.name, dataset.license, dataset.description)
        except ValueError as problem:  # the inputs cannot make this version: say why, do not retry
            shutil.rmtree(scratch, ignore_errors=True)
            dataset.status, dataset.error = DatasetStatus.FAILED, str(problem)[:1000]
            session.commit()
            logger.warning("event=dataset_failed dataset_id=%s error=%s", dataset_id, problem)
            return 0
        report_progress(2, 3, "computing checksums")
        files = file_digests(scratch)
        replace_folder(scratch, version_dir(dataset_id))
        session.execute(delete(DatasetFile).where(DatasetFile.dataset_id == dataset_id))
        session.add_all(DatasetFile(dataset_id=dataset_id, format=_format_of(path, dataset.options["formats"]),
                                    path=path, sha256=sha, size_bytes=size) for path, sha, size in files)
        dataset.sha256, dataset.n_items, dataset.card = version_digest(files), builder.stats.items, builder.card
        dataset.size_bytes = sum(size for _, _, size in files)
        dataset.status, dataset.error, dataset.built_at = DatasetStatus.READY, None, utcnow()
        session.commit()
        report_progress(3, 3, "done")
        logger.info("event=dataset_built dataset_id=%s items=%s sha256=%s", dataset_id, dataset.n_items, dataset.sha256)
        return dataset.n_items


def _format_of(path: str, formats: list[str]) -> str:
    top = path.split("/", 1)[0]
    if top in formats:
        return top
    return {"card.json": "card", "README.md": "card", "manifest.tsv": "manifest"}.get(top, "other")
