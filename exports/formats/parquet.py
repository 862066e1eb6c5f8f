"""Parquet datasets: one file per split, typed columns, the same bytes for the same items.

Columns: `id`, the job's data fields (text), what the kind of job answers (`label`; `answer`;
`entities`, `tokens`, `ner_tags`; `image_width`, `image_height`, `objects` with `bbox` as
[x, y, width, height] in pixels), `confidence`, `annotators`, the consensus `result` as Label
Studio JSON, and the individual `annotations` when given. Each `ItemBatch` becomes one Arrow
record batch, column by column, then is cut by split; each split's rows are written in row groups
of ROW_GROUP rows (fewer only at the end, or when ROW_GROUP_BYTES of Arrow data come first), so
memory stays bounded whatever the number of items. Pages follow the batches' bounds too (where a
dictionary gives way to plain encoding, say), so the same items in the same batches give the same
bytes: the build always cuts its batches every exports.rows.CHUNK items.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from exports.formats.conll import tagged_tokens
from exports.formats.items import SPLITS, ExportItem, FormatSpec, ItemBatch, check_split
from exports.formats.outputs import compact_json, shared_json
from exports.formats.pictures import known_size
from exports.formats.regions import answer_text, batch_labels, boxes, item_label
from exports.formats.tabular import flat_fields

ROW_GROUP = 50_000  # rows per row group at most
ROW_GROUP_BYTES = 128 * 2**20  # and at most this much Arrow data, so memory stays bounded with long texts
_ENTITY = pa.struct([("start", pa.int64()), ("end", pa.int64()), ("label", pa.string()), ("text", pa.string())])
_OBJECT = pa.struct([("label", pa.string()), ("bbox", pa.list_(pa.float64()))])
_ANNOTATION = pa.struct([("annotator", pa.string()), ("label", pa.string()), ("result", pa.string())])


def _answer_types(spec: FormatSpec) -> list[tuple[str, pa.DataType]]:
    if spec.kind == "classification":
        return [("label", pa.list_(pa.string()) if spec.multi_label else pa.string())]
    if spec.kind == "pairwise":
        return [("label", pa.string())]
    if spec.kind == "text":
        return [("answer", pa.string())]
    if spec.kind == "spans":
        return [("entities", pa.list_(_ENTITY)), ("tokens", pa.list_(pa.string())),
                ("ner_tags", pa.list_(pa.string()))]
    return [("image_width", pa.int64()), ("image_height", pa.int64()), ("objects", pa.list_(_OBJECT))]


# Every column a row may have besides the job's data fields (see `arrow_schema`).
_OWN_COLUMNS = frozenset({"id", "label", "answer", "entities", "tokens", "ner_tags", "image_width", "image_height",
                          "objects", "confidence", "annotators", "result", "annotations"})


def parquet_preview(path: Path, limit: int) -> list[dict[str, Any]]:
    """The first `limit` rows of a split as the catalog previews them: the data fields, the
    label (or answer) and the consensus result."""
    file = pq.ParquetFile(path)
    fields = [name for name in file.schema_arrow.names if name not in _OWN_COLUMNS]
    rows: list[dict[str, Any]] = []
    for batch in file.iter_batches(batch_size=limit, columns=[*fields, *(
            name for name in ("label", "answer", "result") if name in file.schema_arrow.names)]):
        for row in batch.to_pylist()[:limit - len(rows)]:
            result = row.get("result")
            rows.append({"data": {name: row[name] for name in fields},
                         "label": row.get("label", row.get("answer")),
                         "result": json.loads(result) if result else None})
        if len(rows) >= limit:
            break
    file.close()
    return rows


def arrow_schema(spec: FormatSpec) -> pa.Schema:
    """The columns of the job's rows, in order (no metadata: the file says nothing but the data)."""
    own = [*_answer_types(spec), ("confidence", pa.float64()), ("annotators", pa.int64()),
           ("result", pa.string()), ("annotations", pa.list_(_ANNOTATION))]
    fields = flat_fields(spec, ["id", *(name for name, _ in own)])
    return pa.schema([("id", pa.int64()), *((name, pa.string()) for name in fields), *own])


def text_value(value: Any) -> str | None:
    """A value as a text column holds it: a string as it is, anything else as compact JSON."""
    return value if value is None or isinstance(value, str) else compact_json(value)


def reads_data(spec: FormatSpec) -> bool:
    """Whether the rows need each item's data beyond `spec.fields` (ItemBatch.fields can stand in
    for the data otherwise): spans find their text in it, boxes their picture."""
    return spec.kind in ("spans", "boxes")


def _answer(item: ExportItem, spec: FormatSpec) -> dict[str, Any]:
    if spec.kind == "classification":
        label = item_label(item, spec)
        return {"label": label.split("|") if spec.multi_label and label is not None else label}
    if spec.kind == "pairwise":
        return {"label": item_label(item, spec)}
    if spec.kind == "text":
        return {"answer": answer_text(item)}
    if spec.kind == "spans":
        tokens, tags, found = tagged_tokens(item, spec)
        return {"entities": [asdict(span) for span in found], "tokens": [token.text for token in tokens],
                "ner_tags": tags}
    return _objects(item, spec)


def _objects(item: ExportItem, spec: FormatSpec) -> dict[str, Any]:
    size = known_size(item, spec)
    objects = [{"label": box.label, "bbox": [box.x, box.y, box.width, box.height]} for box in boxes(item, size)]
    return {"image_width": size[0] if size else None, "image_height": size[1] if size else None,
            "objects": objects}


def _annotations(item: ExportItem) -> list[dict[str, Any]] | None:
    return None if item.annotations is None else [
        {"annotator": text_value(a.get("annotator")), "label": text_value(a.get("label")),
         "result": compact_json(a.get("result", []))} for a in item.annotations]


def row(item: ExportItem, spec: FormatSpec) -> dict[str, Any]:
    """The item as one row of `arrow_schema(spec)` (labels as text)."""
    return {"id": item.id, **{name: text_value(item.data.get(name)) for name in spec.fields},
            **_answer(item, spec), "confidence": float(item.confidence), "annotators": item.annotators,
            "result": compact_json(item.result), "annotations": _annotations(item)}


def answers_by_label(spec: FormatSpec) -> bool:
    """Whether a row's answer is its label alone (`item_label`): what ItemBatch.columns can hold."""
    return (spec.kind == "classification" and not spec.multi_label) or spec.kind == "pairwise"


def _answer_columns(batch: ItemBatch, spec: FormatSpec) -> dict[str, list[Any]]:
    if answers_by_label(spec):
        return {"label": batch_labels(batch, spec)}
    answers = [_answer(item, spec) for item in batch.items()]
    return {name: [answer[name] for answer in answers] for name, _ in _answer_types(spec)}


def columns(batch: ItemBatch, spec: FormatSpec) -> dict[str, list[Any]]:
    """A batch of items as the columns of `arrow_schema(spec)`: the values of `row`, column by column."""
    if batch.columns is not None:  # made in Arrow by the reader: no Python object per row
        own = {name: column for name, column in batch.columns.items() if name != "split"}
        return {**own, **{name: _field(batch, name) for name in spec.fields}, "annotations": [None] * len(batch)}
    annotations = (None if batch.annotations is None else
                   [_annotations(item) for item in batch.items()])
    return {"id": batch.ids, **{name: _field(batch, name) for name in spec.fields},
            **_answer_columns(batch, spec), "confidence": [float(value) for value in batch.confidences],
            "annotators": batch.annotators, "result": shared_json(batch.results),
            "annotations": annotations if annotations is not None else [None] * len(batch)}


def _field(batch: ItemBatch, name: str) -> Sequence[str | None]:
    if batch.fields is not None and name in batch.fields:
        return batch.fields[name]
    return [text_value(values.get(name)) for values in batch.data]


def record_batch(batch: ItemBatch, spec: FormatSpec, schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(columns(batch, spec), schema=schema)


def split_masks(batch: ItemBatch) -> dict[str, pa.BooleanArray]:
    """Which rows of the batch go to each split; ValueError naming the first item of no split."""
    splits = batch.columns["split"] if batch.columns is not None else pa.array(batch.splits, pa.string())
    known = pc.is_in(splits, value_set=pa.array(SPLITS))
    if not pc.all(known).as_py():
        check_split(batch.item(pc.index(known, False).as_py()))
    return {split: pc.equal(splits, split) for split in SPLITS}


class _RowGroups:
    """One split's Parquet file, fed record batches and writing a row group per ROW_GROUP rows or
    ROW_GROUP_BYTES of Arrow data, whichever comes first (long texts make for big rows)."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        # Parquet files record their writer ("parquet-cpp-arrow version …") but no time: same rows, same bytes.
        self.writer = pq.ParquetWriter(path, schema, compression="snappy")
        self.pending: list[pa.RecordBatch] = []
        self.rows = self.size = 0

    def add(self, batch: pa.RecordBatch) -> None:
        self.pending.append(batch)
        self.rows, self.size = self.rows + batch.num_rows, self.size + batch.nbytes
        if self.size >= ROW_GROUP_BYTES:
            self.flush()
        while self.rows >= ROW_GROUP:
            table = pa.Table.from_batches(self.pending)
            self.writer.write_table(table.slice(0, ROW_GROUP), row_group_size=ROW_GROUP)
            self.pending = table.slice(ROW_GROUP).combine_chunks().to_batches()
            self.rows = self.rows - ROW_GROUP
            self.size = sum(part.nbytes for part in self.pending)

    def flush(self) -> None:
        if self.rows:
            self.writer.write_table(pa.Table.from_batches(self.pending), row_group_size=self.rows)
        self.pending, self.rows, self.size = [], 0, 0

    def close(self) -> None:
        self.flush()
        self.writer.close()


def write_parquet(batches: Iterable[ItemBatch], folder: Path, spec: FormatSpec) -> list[Path]:
    """`{split}.parquet` for each split (empty splits too), Snappy-compressed, in bounded row groups."""
    schema = arrow_schema(spec)
    paths = {split: folder / f"{split}.parquet" for split in SPLITS}
    groups = {split: _RowGroups(path, schema) for split, path in paths.items()}
    try:
        for batch in batches:
            masks = split_masks(batch)
            rows = record_batch(batch, spec, schema)
            for split, mask in masks.items():
                if (part := rows.filter(mask)).num_rows:
                    groups[split].add(part)
    finally:
        for group in groups.values():
            group.close()
    return list(paths.values())
