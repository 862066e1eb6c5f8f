"""Hugging Face `datasets` folders: `DatasetDict.save_to_disk`, so `datasets.load_from_disk(folder)`
gives the splits train, validation and test.

The rows are the Parquet rows (see parquet.py) with labels as `ClassLabel` indices: `label` for
classification and comparisons, `ner_tags` and entity labels for spans, object labels for boxes.
Each split streams to an Arrow file in a scratch folder beside `folder` (not /tmp, which may be
memory), is memory-mapped, and saved from there; nothing holds the whole split in memory. Each
split's fingerprint is the SHA-256 of its Arrow file, so the same items give the same files.
Nothing here touches the Hugging Face Hub.
"""
from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
from datasets import (
    ClassLabel,
    Dataset,
    DatasetDict,
    DatasetInfo,
    Features,
    List,
    NamedSplit,
    Value,
)
from datasets.table import MemoryMappedTable
from datasets.utils import (
    are_progress_bars_disabled,
    disable_progress_bars,
    enable_progress_bars,
)

from exports.formats.conll import bio_names
from exports.formats.items import SPLITS, ExportItem, FormatSpec
from exports.formats.outputs import batches_by_split
from exports.formats.parquet import arrow_schema, row

BATCH = 1000  # rows per Arrow record batch (datasets' own default writer batch size)
SHARD_BYTES = 500_000_000  # datasets' default max_shard_size, "500MB"
PAIRWISE_SIDES = ("left", "right")  # what Label Studio's Pairwise control records


def _class_names(spec: FormatSpec) -> tuple[str, ...]:
    names = spec.labels or (PAIRWISE_SIDES if spec.kind == "pairwise" else ())
    if not names:
        raise ValueError(f"labels: a {spec.kind} job needs its label set for the hf format")
    return names


def _feature(name: str, kind: pa.DataType, spec: FormatSpec) -> Any:
    """The `datasets` feature of one Parquet column: labels become ClassLabel, the rest keeps its type."""
    if spec.kind in ("classification", "pairwise") and name == "label":
        classes = ClassLabel(names=list(_class_names(spec)))
        return List(classes) if spec.multi_label else classes
    if name == "ner_tags":
        return List(ClassLabel(names=bio_names(_class_names(spec))))
    if name == "entities":
        return List({"start": Value("int64"), "end": Value("int64"),
                     "label": ClassLabel(names=list(_class_names(spec))), "text": Value("string")})
    if name == "objects":
        return List({"label": ClassLabel(names=list(_class_names(spec))), "bbox": List(Value("float64"))})
    return Features.from_arrow_schema(pa.schema([(name, kind)]))[name]


def features(spec: FormatSpec) -> Features:
    """The dataset's features, column for column as in the Parquet files."""
    return Features({field.name: _feature(field.name, field.type, spec) for field in arrow_schema(spec)})


def _indexer(names: list[str] | tuple[str, ...], item: ExportItem) -> Any:
    positions = {name: i for i, name in enumerate(names)}

    def index(label: str) -> int:
        if label not in positions:
            raise ValueError(f"task {item.id}: label {label!r} is not in the label set ({', '.join(names)})")
        return positions[label]
    return index


def _encoded(item: ExportItem, spec: FormatSpec) -> dict[str, Any]:
    """The item's Parquet row with its labels as indices into the label set."""
    record = row(item, spec)
    if spec.kind == "text":
        return record
    index = _indexer(_class_names(spec), item)
    label = record.get("label")
    if label is not None:
        record["label"] = [index(part) for part in label] if isinstance(label, list) else index(label)
    for key in ("entities", "objects"):
        for entry in record.get(key, []):
            entry["label"] = index(entry["label"])
    if "ner_tags" in record:
        record["ner_tags"] = list(map(_indexer(bio_names(spec.labels), item), record["ner_tags"]))
    return record


def _arrow_files(items: Iterable[ExportItem], scratch: Path, spec: FormatSpec) -> dict[str, Path]:
    """Stream each split's rows into `scratch/<split>.arrow` (Arrow IPC stream, as datasets keeps them)."""
    schema = features(spec).arrow_schema
    paths = {split: scratch / f"{split}.arrow" for split in SPLITS}
    writers = {split: pa.ipc.new_stream(str(path), schema) for split, path in paths.items()}
    try:
        for split, rows in batches_by_split(items, lambda item: _encoded(item, spec), BATCH):
            writers[split].write_batch(pa.RecordBatch.from_pylist(rows, schema=schema))
    finally:
        for writer in writers.values():
            writer.close()
    return paths


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def _quiet_progress() -> Iterator[None]:
    """No progress bars from datasets while saving (a worker's log is no terminal); restores the setting."""
    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            enable_progress_bars()


def write_hf(items: Iterable[ExportItem], folder: Path, spec: FormatSpec) -> list[Path]:
    """A `datasets` folder: dataset_dict.json and one sub-folder per split (Arrow data, info, state)."""
    info = DatasetInfo(features=features(spec))
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".hf-build-", dir=folder.parent) as scratch:
        arrow = _arrow_files(items, Path(scratch), spec)
        splits = DatasetDict({split: Dataset(MemoryMappedTable.from_file(str(path)), info=info,
                                             split=NamedSplit(split), fingerprint=_sha256(path)[:16])
                              for split, path in arrow.items()})
        # Shard counts given explicitly: left to itself, datasets 5.2 saves an empty split as zero
        # shards, which load_from_disk cannot read back (huggingface/datasets PR #8385, still open).
        shards = {split: max(1, min(splits[split].num_rows, path.stat().st_size // SHARD_BYTES + 1))
                  for split, path in arrow.items()}
        with _quiet_progress():
            splits.save_to_disk(str(folder), num_shards=shards)
        del splits  # let go of the memory maps before the scratch folder goes
    return [folder / "dataset_dict.json", *sorted(path for split in SPLITS for path in (folder / split).iterdir())]
