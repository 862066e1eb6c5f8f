"""Streaming plumbing shared by the writers: one open file per split, rows gathered per split in bounded batches."""
from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack, contextmanager
from functools import partial
from json import encoder as _json_encoder
from pathlib import Path
from typing import Any, TextIO, TypeVar

from exports.formats.items import SPLITS, ExportItem, check_split

# Pascal VOC and YOLO tools name the validation split "val".
SHORT_SPLIT = {"train": "train", "validation": "val", "test": "test"}
Row = TypeVar("Row")


def json_encoder(*, sort_keys: bool, separators: tuple[str, str] = (",", ":")) -> Callable[[Any], str]:
    """`json.dumps(value, ensure_ascii=False, separators=separators, sort_keys=sort_keys)`, same text.

    json.dumps builds a new encoder on every call, which costs more than encoding one item's small
    values; this builds the C encoder once, as json.dumps would build it (without the circular
    reference check: the values come from JSON, so they hold no cycles), and falls back to
    json.dumps itself where there is no C encoder or it does not answer like json.dumps.
    """
    dumps = partial(json.dumps, ensure_ascii=False, separators=separators, sort_keys=sort_keys)
    make = getattr(_json_encoder, "c_make_encoder", None)
    if make is None:
        return dumps
    try:
        encode = make(None, json.JSONEncoder().default, _json_encoder.encode_basestring, None,
                      separators[1], separators[0], sort_keys, False, True)
    except TypeError:  # another Python's private signature
        return dumps

    def fast(value: Any) -> str:
        return "".join(encode(value, 0))
    sample = {"b": [1, 2.5, -0.0, 1e300, None, True, "中文\n\"😀"], "a": {"z": {}, "y": []}, "3": 1e-7}
    return fast if fast(sample) == dumps(sample) and fast("x") == dumps("x") else dumps


_line, _compact = json_encoder(sort_keys=False), json_encoder(sort_keys=True)


def json_line(record: Any) -> str:
    """One JSONL line: UTF-8 text as is (Chinese unescaped), no spaces, a trailing newline."""
    return _line(record) + "\n"


def json_value(value: Any) -> str:
    """A value as json_line writes it inside a line (keys in their order, no spaces)."""
    kind = type(value)
    # The encoder writes a finite int or float as its repr; skipping its call costs less per item.
    if kind is int or (kind is float and math.isfinite(value)):
        return repr(value)
    return _line(value)


def compact_json(value: Any) -> str:
    """A stable JSON text of a nested value (keys sorted: databases may reorder them)."""
    return _compact(value)


def shared_json(values: list[Any], encode: Callable[[Any], str] = _compact) -> list[str]:
    """`encode` (compact_json by default) of each value, each distinct object encoded once.

    The build parses each distinct consensus result once and hands it to every item that has it
    (a classification job has about one per label), so most values here are the same few objects.
    Keyed by identity, which is sound while `values` holds every object alive.
    """
    texts: dict[int, str] = {}
    found = []
    for value in values:
        text = texts.get(id(value))
        if text is None:
            text = texts[id(value)] = encode(value)
        found.append(text)
    return found


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


def batches_by_split(items: Iterable[ExportItem], to_row: Callable[[ExportItem], Row],
                     size: int) -> Iterator[tuple[str, list[Row]]]:
    """(split, rows) batches of at most `size` rows, in item order within each split.

    At most `size` rows per split are held at once, so memory does not grow with the item count.
    """
    pending: dict[str, list[Row]] = {split: [] for split in SPLITS}
    for item in items:
        rows = pending[check_split(item)]
        rows.append(to_row(item))
        if len(rows) >= size:
            yield item.split, rows
            pending[item.split] = []
    for split in SPLITS:
        if pending[split]:
            yield split, pending[split]
