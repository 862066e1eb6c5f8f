"""An upload's file cut into chunks of new rows: parsed, validated, deduplicated within the chunk,
and made ready to insert. Touches no database and imports nothing heavy, so that a large file is
scanned in a process of its own (`readahead.read_ahead_process`) while the import's process
inserts the chunk before; `projects.imports` commits each chunk.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

from projects.intake import Item, RowError, read_items

MAX_LISTED = 200  # errors and duplicates listed in a report (all are counted)
FIRST_CHUNK = 2_000  # good rows in the first chunk at most: the inserting starts sooner
Tail = Callable[[str, bytes, int], bytes]  # bulk.copy_tail: a row's values in COPY's binary format


def group_value(field: str, data: dict[str, Any]) -> str:
    """The batch group of an item whose job groups batches by data `field`."""
    value = data.get(field)
    return "" if value is None else str(value)[:200]


class Chunk:
    """The good rows read since the last commit, deduplicated as they arrive.

    Keeps what a task row needs, not the parsed items: at a chunk's size it is what the import
    holds in memory. With `tail` (PostgreSQL) each row is kept as its COPY data instead of its
    JSON text, so the thread feeding the server only joins bytes (`bulk.insert_runs`)."""

    def __init__(self, group_field: str | None, tail: Tail | None) -> None:
        self.group_of = partial(group_value, group_field) if group_field else None  # None: no groups
        self.tail = tail
        # hash -> (line, JSON or None if tail, gold, group, tail or None)
        self.rows: dict[bytes, tuple[int, str | None, Any, str | None, bytes | None]] = {}
        self.repeats: list[int] = []  # lines whose content an earlier line of the chunk has
        self.size = self.golds = 0

    def add(self, item: Item) -> None:
        self.size += 1
        line, data, gold, content, text = item
        if content in self.rows:
            self.repeats.append(line)
            return
        text, group_of, tail = text or item.json(), self.group_of, self.tail
        if gold is not None:  # gold items go in no batch, so their group is never asked for
            self.golds += 1
        group = None if group_of is None or gold is not None else group_of(data)
        self.rows[content] = ((line, text, gold, group, None) if tail is None else
                              (line, None, gold, group, tail(text, content, line)))


class Scan(NamedTuple):
    """Where the scan of the file stands once a chunk is full, or once the file is done."""

    chunk: Chunk
    through: int  # rows (good and bad) read so far
    errors: list[str]  # the first MAX_LISTED bad rows so far, a copy
    error_count: int
    finished: bool


class Resume(NamedTuple):
    """Where an import starts its scan: what an interrupted run of it had committed."""

    done: int  # rows (good and bad) committed
    errors: list[str]
    error_count: int
    skip_bad_rows: bool


def scan(entries: Iterator[Item | RowError], resume: Resume, size: int, group_field: str | None,
         tail: Tail | None) -> Iterator[Scan]:
    """The file cut into chunks of `size` good rows (the first of at most FIRST_CHUNK), skipping
    the rows an interrupted run committed. After the first bad row of an all-or-nothing import no
    row is kept any more, but the scan goes on so the report lists every bad row."""
    done, errors, error_count, skip_bad_rows = resume.done, list(resume.errors), resume.error_count, resume.skip_bad_rows
    chunk, n, full = Chunk(group_field, tail), done, min(size, FIRST_CHUNK)
    for n, entry in enumerate(entries, start=1):
        if n <= done:
            continue
        if isinstance(entry, RowError):
            error_count += 1
            if len(errors) < MAX_LISTED:
                errors.append(str(entry))
        elif skip_bad_rows or not error_count:
            chunk.add(entry)
            if chunk.size == full:
                yield Scan(chunk, n, list(errors), error_count, False)
                chunk, full = Chunk(group_field, tail), size
    yield Scan(chunk, n, list(errors), error_count, True)


def scan_file(path: Path, file: str, fmt: str, fields: frozenset[str], gold_field: str | None, resume: Resume,
              size: int, group_field: str | None, tail: Tail | None) -> Iterator[Scan]:
    """`scan` of a table or JSON file's items (`file` is the name reports give it)."""
    with path.open("rb") as stream:
        yield from scan(read_items(stream, file, format=fmt, required_fields=fields, gold_field=gold_field),
                        resume, size, group_field, tail)
