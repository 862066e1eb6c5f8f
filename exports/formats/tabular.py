"""JSONL and CSV datasets: one UTF-8 file per split, readable with nothing but the standard library.

JSONL keeps everything (the task's data and the consensus result as Label Studio wrote it); CSV is
one row per item with the job's data fields as columns, for spreadsheets and pandas.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from exports.formats.items import ExportItem, FormatSpec, check_split
from exports.formats.outputs import compact_json, json_line, split_files, split_paths
from exports.formats.regions import answer_text, item_label


def flat_fields(spec: FormatSpec, columns: Iterable[str]) -> tuple[str, ...]:
    """The data fields as columns beside the export's own `columns`; ValueError if one would shadow them."""
    clash = next((name for name in spec.fields if name in set(columns)), None)
    if clash is not None:
        raise ValueError(f"fields: data field {clash!r} has the name of an export column; "
                         "use a format that nests data (jsonl)")
    return spec.fields


def write_jsonl(items: Iterable[ExportItem], folder: Path, spec: FormatSpec) -> list[Path]:
    """`{split}.jsonl`: {"id", "data", "label", "result", "confidence", "annotators"[, "annotations"]} per line."""
    with split_files(folder, "{split}.jsonl") as files:
        for item in items:
            record: dict[str, Any] = {"id": item.id, "data": item.data, "label": item_label(item, spec),
                                      "result": item.result, "confidence": round(item.confidence, 6),
                                      "annotators": item.annotators}
            if item.annotations is not None:
                record["annotations"] = item.annotations
            files[check_split(item)].write(json_line(record))
    return split_paths(folder, "{split}.jsonl")


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
