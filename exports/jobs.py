"""Background dataset builds: write a QA run's agreed items as JSONL, atomically.

Rows stream from the database to a temporary file in task order, then the file is renamed into
place and its SHA-256 recorded; a rerun writes the same bytes, and a crash never leaves a
half-written file where a buyer could download it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from flask import current_app
from sqlalchemy import func, select

from background.runner import report_progress
from exports.models import Dataset
from extensions import db, utcnow
from qa.models import Consensus, ConsensusStatus
from tasks.models import Task

logger = logging.getLogger(__name__)


def datasets_dir() -> Path:
    path = Path(current_app.config["DATA_DIR"]) / "datasets"
    path.mkdir(parents=True, exist_ok=True)
    return path


def build_dataset(dataset_id: int) -> int:
    """Write the dataset's file; return its item count."""
    with db.new_session() as session:
        dataset = session.get(Dataset, dataset_id)
        if dataset is None:
            raise LookupError(f"dataset {dataset_id} does not exist")
        agreed = (select(Task.id, Task.data, Consensus.label, Consensus.confidence, Consensus.votes)
                  .join(Consensus, Consensus.task_id == Task.id)
                  .where(Consensus.project_id == dataset.project_id,
                         Consensus.status.in_([ConsensusStatus.AGREED, ConsensusStatus.REVIEWED]))
                  .order_by(Task.id))
        total = session.scalar(select(func.count()).select_from(agreed.subquery()))
        final = datasets_dir() / f"dataset-{dataset.id}.jsonl"
        partial = final.with_suffix(".jsonl.partial")
        digest, count = hashlib.sha256(), 0
        with partial.open("wb") as out:
            for row in session.execute(agreed.execution_options(yield_per=1000)):
                line = json.dumps({"id": row.id, "data": row.data, "label": row.label,
                                   "confidence": round(row.confidence, 6), "annotators": row.votes},
                                  ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
                out.write(line)
                digest.update(line)
                count += 1
                if count % 5000 == 0:
                    report_progress(count, total, "writing items")
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, final)
        dataset.file_name, dataset.sha256, dataset.n_items = final.name, digest.hexdigest(), count
        dataset.size_bytes, dataset.built_at = final.stat().st_size, utcnow()
        session.commit()
        logger.info("event=dataset_built dataset_id=%s items=%s sha256=%s", dataset_id, count, dataset.sha256)
        return count
