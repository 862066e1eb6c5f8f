"""Cutting a job's items into batches: fixed size, optionally one run of batches per value of a
data field (e.g. region or source), so work can be distributed and tracked by batch."""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from errors import NotFound
from extensions import utcnow
from projects.models import Batch, BatchMember, Project
from tasks.models import Task
from workforce.teams import annotators_named, members_of


class Batcher:
    """Assigns items to the job's open batches, opening new ones as they fill.

    Works on plain values (id, size per group) rather than ORM objects, and on runs of items
    rather than one item at a time: an import places hundreds of thousands of items."""

    def __init__(self, session: Session, project: Project) -> None:
        self.session, self.project_id = session, project.id
        self.size, self.field = project.batch_size, project.batch_group_field
        self.reload()

    def reload(self) -> None:
        """Read the job's batches as committed (again, after a rollback)."""
        rows = self.session.execute(select(Batch.id, Batch.number, Batch.group_value, Batch.size)
                                    .where(Batch.project_id == self.project_id).order_by(Batch.number)).all()
        self.next_number = (rows[-1].number if rows else 0) + 1
        self.open: dict[str | None, int] = {r.group_value: r.id for r in rows}  # last batch per group
        self.sizes: dict[int, int] = {r.id: r.size for r in rows}
        self.changed: set[int] = set()  # batch ids (or placeholders) whose size grew
        self.pending: list[tuple[int, str | None]] = []  # (placeholder, group) not yet created

    def place_runs(self, groups: Iterable[str | None]) -> list[tuple[int, int]]:
        """Where the items go, in order, given their groups (see `projects.chunks.group_value`):
        each goes into its group's last batch until that is full; as runs of (batch id, items
        placed in it), see `batch_ids`. Creates the batches this opens (one INSERT) and writes the
        sizes of those that grew; the caller commits."""
        runs: list[tuple[int, int]] = []  # (batch or placeholder, items placed in it)
        for group, items in itertools.groupby(groups):
            left = sum(1 for _ in items)
            while left:
                batch = self.open.get(group)
                if batch is None or self.sizes[batch] >= self.size:
                    batch = self._open_batch(group)
                taken = min(left, self.size - self.sizes[batch])
                self.sizes[batch] += taken
                self.changed.add(batch)
                runs.append((batch, taken))
                left -= taken
        real = self._materialize()
        self._save()
        return [(real.get(b, b), n) for b, n in runs]

    def _open_batch(self, group: str | None) -> int:
        """A negative placeholder for a new batch of `group`, created by `_materialize`."""
        placeholder = -(len(self.pending) + 1)
        self.pending.append((placeholder, group))
        self.open[group], self.sizes[placeholder] = placeholder, 0
        return placeholder

    def _materialize(self) -> dict[int, int]:
        """Create the batches opened since the last call; return placeholder -> real id."""
        if not self.pending:
            return {}
        now, first = utcnow(), self.next_number
        # Created with their sizes so far: only batches that grow again later need an UPDATE.
        values = [{"project_id": self.project_id, "number": first + i, "group_value": group,
                   "size": self.sizes[placeholder], "restricted": False, "qa_seen_annotations": 0,
                   "created_at": now} for i, (placeholder, group) in enumerate(self.pending)]
        # a plain executemany, then the ids by number (unique in the job): an import opens a batch
        # per 100 items by default, and the ORM's INSERT ... RETURNING per batch cost a tenth of
        # the import's Python time
        self.session.execute(insert(Batch.__table__), values)
        ids = dict(self.session.execute(select(Batch.number, Batch.id).where(
            Batch.project_id == self.project_id, Batch.number >= first)).all())
        real = {placeholder: ids[first + i] for i, (placeholder, _) in enumerate(self.pending)}
        self.next_number += len(self.pending)
        self.pending = []
        self.open = {group: real.get(b, b) for group, b in self.open.items()}
        self.sizes = {real.get(b, b): n for b, n in self.sizes.items()}
        self.changed = {b for b in self.changed if b not in real}
        return real

    def _save(self) -> None:
        """Write the sizes of the existing batches that grew."""
        if self.changed:
            self.session.execute(update(Batch), [{"id": b, "size": self.sizes[b]} for b in self.changed])
            self.changed.clear()


def batch_ids(runs: Iterable[tuple[int, int]]) -> Iterator[int]:
    """The batch of each item, in order, from `Batcher.place_runs`'s runs."""
    return itertools.chain.from_iterable(itertools.repeat(batch, count) for batch, count in runs)


def recount_batches(session: Session, project_id: int) -> None:
    """Set every batch's size from its tasks and drop emptied batches (after an import is undone)."""
    counts = dict(session.execute(select(Task.batch_id, func.count()).where(
        Task.project_id == project_id, Task.batch_id.is_not(None)).group_by(Task.batch_id)).all())
    ids = session.scalars(select(Batch.id).where(Batch.project_id == project_id)).all()
    empty = [i for i in ids if i not in counts]
    if empty:
        session.execute(delete(Batch).where(Batch.id.in_(empty)))
    if counts:
        session.execute(update(Batch), [{"id": i, "size": n} for i, n in counts.items()])


def assign_batch(session: Session, project_id: int, batch_id: int, usernames: list[str],
                 teams: list[str] = ()) -> list[int]:
    """Hand a batch to named annotators and teams' members (replacing earlier ones; teams are
    expanded now, so later team changes do not move work already handed out). Nobody named:
    the batch is open to all again."""
    batch = session.get(Batch, batch_id)
    if batch is None or batch.project_id != project_id:
        raise NotFound(f"batch {batch_id} not found in this job")
    users = {u.id: u for u in annotators_named(session, usernames) + members_of(session, list(teams))}
    session.execute(delete(BatchMember).where(BatchMember.batch_id == batch_id))
    session.add_all(BatchMember(batch_id=batch_id, user_id=user_id) for user_id in users)
    batch.restricted = bool(users)
    return list(users)
