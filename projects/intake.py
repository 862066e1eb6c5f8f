"""Turn an uploaded data file into labeling-task items, streaming and validating row by row.

Public contract (other modules code against exactly these names):

* `read_items(stream, filename, ...)` yields an `Item` per good row and a `RowError` per bad
  one, and keeps going; it holds one row at a time, so a file of millions of rows parses in
  flat memory.  Whole-file problems raise `IntakeError`.
* `content_hash(data)` is the duplicate key (16 bytes); `projects.imports` checks it within the
  file and against earlier imports in one pass, and applies the manager's all-or-nothing choice.

Parsing per format lives in `projects.intake_formats`; this module adds the task-level rules:
required fields, the gold answer, and the content hash.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Collection, Iterable, Iterator
from json.encoder import encode_basestring
from operator import itemgetter
from typing import Any, BinaryIO, NamedTuple

from projects.intake_formats import (IntakeError, Opened, Record, RowError, read_csv, read_json,
                                     read_jsonl, read_tsv, read_urls, read_xlsx)

__all__ = ["FORMATS", "IntakeError", "Item", "RowError", "canonical_json", "content_hash", "detect_format",
           "read_items"]

_READERS: dict[str, Callable[[BinaryIO, str, str | None], Opened]] = {
    "csv": read_csv, "tsv": read_tsv, "json": read_json, "jsonl": read_jsonl,
    "xlsx": read_xlsx, "urls": read_urls,
}
FORMATS: tuple[str, ...] = tuple(_READERS)  # ("csv", "tsv", "json", "jsonl", "xlsx", "urls")
_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl",
               ".xlsx": "xlsx", ".txt": "urls", ".zip": "zip"}  # zip: images, see projects.media
HASH_BYTES = 16  # the length of a content hash (tasks.models.Task.content_hash)
_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


class Item(NamedTuple):
    """One good row, ready to become a task (a named tuple: an import makes millions of them).

    `line` is the row's first physical line (CSV/TSV/JSONL/urls), its sheet row (xlsx), or its
    index + 1 (JSON array).  `data` values are str for CSV/TSV/XLSX/urls and JSON types for
    JSON/JSONL.  `gold` is the `gold_field` value, removed from `data`; None when it is absent,
    null or blank.
    """

    line: int
    data: dict[str, Any]
    gold: Any | None
    content_hash: bytes
    # The canonical JSON the hash was taken of; importers store it as is (no second encoding).
    canonical: str = ""

    def json(self) -> str:
        return self.canonical or canonical_json(self.data)


def canonical_json(data: dict[str, Any]) -> str:
    """`data` as canonical JSON: sorted keys, compact separators, non-ASCII kept."""
    return _CANONICAL.encode(data)


def _table_json(columns: Iterable[str]) -> Callable[[dict[str, Any]], str]:
    """`canonical_json` for rows holding exactly `columns`, every value a str: the same text
    (the encoder's own string escaping), with the sorted keys encoded once per file."""
    names = tuple(sorted(columns))
    template = "{" + ",".join(encode_basestring(name).replace("%", "%%") + ":%s" for name in names) + "}"
    if len(names) < 2:  # itemgetter needs a name, and gives a bare value for just one
        return lambda data: template % tuple(encode_basestring(data[name]) for name in names)
    values = itemgetter(*names)
    return lambda data: template % tuple(map(encode_basestring, values(data)))


def _digest(text: str) -> bytes:
    # surrogatepass: a JSON "\\udc80" escape yields a lone surrogate; hash it rather than crash
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:HASH_BYTES]


def content_hash(data: dict[str, Any]) -> bytes:
    """The first HASH_BYTES bytes of the SHA-256 of the canonical JSON of `data` (sorted keys,
    UTF-8, compact separators). 128 bits: a chance collision among a job's items is out of reach."""
    return _digest(canonical_json(data))


def detect_format(filename: str) -> str:
    """The format implied by the file name's extension; IntakeError for any other."""
    extension = os.path.splitext(filename)[1].lower()
    if extension not in _EXTENSIONS:
        raise IntakeError(filename, f"unsupported file type '{extension or filename}'; upload "
                                    f"{', '.join(_EXTENSIONS)} (.txt: one image URL per line; .zip: images)")
    return _EXTENSIONS[extension]


def _quoted(names: Iterable[str]) -> str:
    return ", ".join(f"'{name}'" for name in names)


def _check_columns(opened: Opened, required: tuple[str, ...], file: str) -> None:
    """Required columns a header lacks are a whole-file error, reported before any row."""
    if opened.columns is None:
        return  # JSON/JSONL: no header; each object is checked on its own
    missing = [name for name in required if name not in opened.columns]
    if missing:
        noun = "column" if len(missing) == 1 else "columns"
        raise IntakeError(file, f"missing required {noun} {_quoted(missing)}; the columns are "
                                f"{_quoted(opened.columns)}", opened.header_line)


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _blank_check(required: tuple[str, ...], table: bool) -> Callable[[dict[str, Any]], bool] | None:
    """Whether a row's data leaves a required field blank (see `_is_blank`); None: nothing is
    required. In a table every required column exists (`_check_columns`) and every cell is a
    str, so the check is a strip of the cells, without a Python call per field."""
    if not required:
        return None
    if not table:
        return lambda data: any(map(_is_blank, map(data.get, required)))
    cells = itemgetter(*required)
    if len(required) == 1:  # itemgetter gives a bare value for just one name
        return lambda data: not cells(data).strip()
    return lambda data: not all(map(str.strip, cells(data)))


def _items(records: Iterator[Record | RowError], file: str, required: tuple[str, ...], table: bool,
           gold_field: str | None, encode: Callable[[dict[str, Any]], str]) -> Iterator[Item | RowError]:
    # why the local names and tuple.__new__: this loop runs once per row of files of millions
    new, sha256, size = tuple.__new__, hashlib.sha256, HASH_BYTES
    blank = _blank_check(required, table)
    for record in records:
        if record.__class__ is RowError:
            yield record
            continue
        line, data = record
        if blank is not None and blank(data):
            # one error per field, so the report lists everything to fix in the row
            yield from (RowError(file, line, name, f"missing required field '{name}'")
                        for name in required if _is_blank(data.get(name)))
            continue
        gold = None
        if gold_field:
            gold = data.pop(gold_field, None)
            gold = None if _is_blank(gold) else gold
        text = encode(data)
        # = _digest(text) and Item(...), without two Python-level calls per row
        yield new(Item, (line, data, gold, sha256(text.encode("utf-8", "surrogatepass")).digest()[:size], text))


def read_items(stream: BinaryIO, filename: str, *, format: str | None = None,
               required_fields: Collection[str] = (), gold_field: str | None = None,
               encoding: str | None = None) -> Iterator[Item | RowError]:
    """Stream the items of an uploaded file, validating each row.

    `filename` names the file in every error (for a zip member pass "archive.zip:member.csv");
    `format` (one of FORMATS) overrides the extension; `encoding` overrides detection for the
    text formats.  A required field that is absent or blank (None, or whitespace only) is a
    RowError; with a header (csv, tsv, xlsx, urls' implicit "image") an absent required column is
    an IntakeError instead.  List `gold_field` in `required_fields` to make a gold answer
    mandatory.  Blank rows are skipped silently.

    Raises IntakeError right away for an undetectable encoding, a binary or empty file, or a bad
    header; and during iteration when the rest of a file cannot be read (broken JSON array
    syntax, or a decoding failure surrogateescape cannot absorb).  The caller's stream is read
    but not closed.
    """
    if isinstance(required_fields, str):
        raise TypeError("required_fields takes a collection of names, not one string")
    fmt = format or detect_format(filename)
    if fmt not in _READERS:
        raise IntakeError(filename, f"unsupported format '{fmt}'; use one of {', '.join(FORMATS)}")
    opened = _READERS[fmt](stream, filename, encoding)
    required = tuple(dict.fromkeys(required_fields))
    _check_columns(opened, required, filename)
    # a header fixes every row's keys, and table cells are text: one template serves the file
    encode = canonical_json if opened.columns is None else \
        _table_json(name for name in opened.columns if name != gold_field)
    return _items(opened.records, filename, required, opened.columns is not None, gold_field, encode)
