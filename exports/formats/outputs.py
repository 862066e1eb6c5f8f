"""Streaming plumbing shared by the writers: one open file per split, rows gathered per split in bounded batches."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, TextIO

from exports.formats.items import SPLITS, ExportItem, check_split

# Pascal VOC and YOLO tools name the validation split "val".
SHORT_SPLIT = {"train": "train", "validation": "val", "test": "test"}


def json_line(record: Any) -> str:
    """One JSONL line: UTF-8 text as is (Chinese unescaped), no spaces, a trailing newline."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def compact_json(value: Any) -> str:
    """A stable JSON text of a nested value (keys sorted: databases may reorder them)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


@contextmanager
def split_files(folder: Path, name: str, *, short: bool = False) -> Iterator[dict[str, TextIO]]:
    """Open `name.format(split=...)` for writing for every split (all three, so empty ones exist too);
    `short` names the validation split "val" in the file name."""
    with ExitStack() as stack:
        files = {}
        for split, path in zip(SPLITS, split_paths(folder, name, short=short), strict=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            # newline="": the csv module writes its own line ends, and JSONL keeps "\n" on every OS.
            files[split] = stack.enter_context(path.open("w", encoding="utf-8", newline=""))
        yield files


def split_paths(folder: Path, name: str, *, short: bool = False) -> list[Path]:
    return [folder / name.format(split=SHORT_SPLIT[split] if short else split) for split in SPLITS]


def batches_by_split(items: Iterable[ExportItem], to_row: Callable[[ExportItem], dict[str, Any]],
                     size: int) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(split, rows) batches of at most `size` rows, in item order within each split.

    At most `size` rows per split are held at once, so memory does not grow with the item count.
    """
    pending: dict[str, list[dict[str, Any]]] = {split: [] for split in SPLITS}
    for item in items:
        rows = pending[check_split(item)]
        rows.append(to_row(item))
        if len(rows) >= size:
            yield item.split, rows
            pending[item.split] = []
    for split in SPLITS:
        if pending[split]:
            yield split, pending[split]
