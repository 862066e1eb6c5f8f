"""JSONL and CSV datasets: one UTF-8 file per split, readable with nothing but the standard library.

JSONL keeps everything (the task's data and the consensus result as Label Studio wrote it); CSV is
one row per item with the job's data fields as columns, for spreadsheets and pandas.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from exports.formats.items import ExportItem, FormatSpec, ItemBatch, check_split
from exports.formats.outputs import compact_json, json_value, shared_json, split_files, split_paths
from exports.formats.regions import answer_text, batch_labels, item_label


def flat_fields(spec: FormatSpec, columns: Iterable[str]) -> tuple[str, ...]:
    """The data fields as columns beside the export's own `columns`; ValueError if one would shadow them."""
    clash = next((name for name in spec.fields if name in set(columns)), None)
    if clash is not None:
        raise ValueError(f"fields: data field {clash!r} has the name of an export column; "
                         "use a format that nests data (jsonl)")
    return spec.fields


def write_jsonl(batches: Iterable[ItemBatch], folder: Path, spec: FormatSpec) -> list[Path]:
    """`{split}.jsonl`: {"id", "data", "label", "result", "confidence", "annotators"[, "annotations"]} per line."""
    with split_files(folder, "{split}.jsonl") as files:
        for batch in batches:
            for row, (split, line) in enumerate(zip(batch.splits, jsonl_lines(batch, spec), strict=True)):
                handle = files.get(split)
                if handle is None:
                    check_split(batch.item(row))  # raises, naming the task
                handle.write(line)
    return split_paths(folder, "{split}.jsonl")


def jsonl_lines(batch: ItemBatch, spec: FormatSpec) -> list[str]:
    """The batch's JSONL lines: json_line of each item's record, joined from its values' JSON (the
    text json_line gives, as the encoder writes a dict: keys in order, "," and ":" between them)
    so that each distinct label, result, confidence and count is encoded once per batch."""
    annotations = batch.annotations or [None] * len(batch)
    # round() and a float's repr each cost about a microsecond, and confidences repeat (vote shares)
    confidences = _distinct_json(batch.confidences, lambda value: json_value(round(value, 6)))
    return [f'{{"id":{json_value(task_id)},"data":{json_value(data)},"label":{label},"result":{result},'
            f'"confidence":{confidence},"annotators":{annotators}'
            + ("}\n" if people is None else f',"annotations":{json_value(people)}}}\n')
            for task_id, data, label, result, confidence, annotators, people in zip(
                batch.ids, batch.data, _distinct_json(batch_labels(batch, spec)),
                shared_json(batch.results, json_value), confidences, _distinct_json(batch.annotators),
                annotations, strict=True)]


def _distinct_json(values: list[Any], encode: Callable[[Any], str] = json_value) -> list[str]:
    """`encode` of each value, each distinct value encoded once (each one when numbers of several
    types mix: 1, 1.0 and True are one key but not one text)."""
    if len(set(map(type, values)) - {str, type(None)}) > 1:
        return [encode(value) for value in values]
    texts = {value: encode(value) for value in set(values)}
    return [texts[value] for value in values]


def csv_columns(spec: FormatSpec) -> list[str]:
    """id, the data fields, label, the answer (free text) or result (spans, boxes), confidence, annotators."""
    extra = {"text": ["answer"], "spans": ["result"], "boxes": ["result"]}.get(spec.kind, [])
    own = ["label", *extra, "confidence", "annotators"]
    return ["id", *flat_fields(spec, ["id", *own]), *own]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _csv_row(item: ExportItem, spec: FormatSpec) -> list[Any]:
    extra = {"text": [answer_text(item)], "spans": [compact_json(item.result)],
             "boxes": [compact_json(item.result)]}.get(spec.kind, [])
    return [item.id, *(_cell(item.data.get(name)) for name in spec.fields), _cell(item_label(item, spec)),
            *(_cell(value) for value in extra), round(item.confidence, 6), item.annotators]


def write_csv(items: Iterable[ExportItem], folder: Path, spec: FormatSpec) -> list[Path]:
    """`{split}.csv`: a header, then one row per item (nested data values as JSON text); no BOM."""
    header = csv_columns(spec)
    with split_files(folder, "{split}.csv") as files:
        writers = {split: csv.writer(handle) for split, handle in files.items()}
        for writer in writers.values():
            writer.writerow(header)
        for item in items:
            writers[check_split(item)].writerow(_csv_row(item, spec))
    return split_paths(folder, "{split}.csv")
