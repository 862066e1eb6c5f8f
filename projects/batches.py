"""Cutting a job's items into batches: fixed size, optionally one run of batches per value of a
data field (e.g. region or source), so work can be distributed and tracked by batch."""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from projects.models import Batch, Project


class Batcher:
    """Assigns items to the job's open batches, opening new ones as they fill."""

    def __init__(self, session: Session, project: Project) -> None:
        self.session, self.project = session, project
        self.size = project.batch_size
        self.field = project.batch_group_field
        self.next_number = (session.scalar(select(func.max(Batch.number))
                                           .where(Batch.project_id == project.id)) or 0) + 1
        self.open: dict[str | None, Batch] = {}
        for batch in session.scalars(select(Batch).where(Batch.project_id == project.id)
                                     .order_by(Batch.number)):
            self.open[batch.group_value] = batch  # the last batch of each group may have room

    def group_of(self, data: dict[str, Any]) -> str | None:
        if not self.field:
            return None
        value = data.get(self.field)
        return "" if value is None else str(value)[:200]

    def assign(self, data: dict[str, Any]) -> int:
        """The id of the batch this item goes into."""
        group = self.group_of(data)
        batch = self.open.get(group)
        if batch is None or batch.size >= self.size:
            batch = Batch(project_id=self.project.id, number=self.next_number, group_value=group, size=0)
            self.next_number += 1
            self.session.add(batch)
            self.session.flush()
            self.open[group] = batch
        batch.size += 1
        return batch.id

    def save(self) -> None:
        """Write the batches' new sizes (the caller commits)."""
        self.session.flush()
