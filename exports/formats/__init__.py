"""Dataset formats: streaming writers from agreed items to the files buyers load, and which jobs each fits.

`FORMATS[name](items, folder, spec)` writes one format into `folder` and returns what it wrote:
the files, and for formats with a file per picture (coco, voc, yolo) the folders holding those,
so the answer stays small; `FORMATS[name].batches(batches, ...)` does the same from `ItemBatch`es,
as the build streams them. Columnar writers (Parquet, JSONL) take batches, the others one item
at a time; each entry point converts for the other. Writers are pure: no Flask, database or
network; they read items once, in order, and hold at most a bounded batch of them. Building into
a scratch folder and moving it into place is the caller's business.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from exports.formats.chat import write_chat
from exports.formats.coco import write_coco
from exports.formats.conll import write_conll
from exports.formats.items import KINDS, SPLITS, ExportItem, FormatSpec, ItemBatch, LocalImage, each_item, item_batches
from exports.formats.parquet import write_parquet
from exports.formats.tabular import write_csv, write_jsonl
from exports.formats.voc import write_voc
from exports.formats.yolo import write_yolo

WriteFunction = Callable[[Iterable[ExportItem], Path, FormatSpec], list[Path]]
BatchWriteFunction = Callable[[Iterable[ItemBatch], Path, FormatSpec], list[Path]]


def write_hf(items: Iterable[ExportItem], folder: Path, spec: FormatSpec) -> list[Path]:
    """See exports.formats.hf (imported on first use: `datasets` is slow to import)."""
    from exports.formats.hf import write_hf as write
    return write(items, folder, spec)


@dataclass(frozen=True)
class Writer:
    """A format, the kinds of job it fits, and its writer (of items, or of batches when `columnar`);
    calling it checks the fit first."""
    name: str
    kinds: frozenset[str]
    write: WriteFunction | BatchWriteFunction
    columnar: bool = False

    def __call__(self, items: Iterable[ExportItem], folder: Path, spec: FormatSpec) -> list[Path]:
        self._prepare(folder, spec)
        return self.write(item_batches(items) if self.columnar else items, folder, spec)

    def batches(self, batches: Iterable[ItemBatch], folder: Path, spec: FormatSpec) -> list[Path]:
        self._prepare(folder, spec)
        return self.write(batches if self.columnar else each_item(batches), folder, spec)

    def _prepare(self, folder: Path, spec: FormatSpec) -> None:
        if spec.kind not in self.kinds:
            raise ValueError(f"format {self.name!r} does not fit a {spec.kind} job "
                             f"(it takes {', '.join(sorted(self.kinds))})")
        folder.mkdir(parents=True, exist_ok=True)


_ALL = frozenset(KINDS)
FORMATS: dict[str, Writer] = {writer.name: writer for writer in (
    Writer("jsonl", _ALL, write_jsonl, columnar=True),
    Writer("csv", _ALL, write_csv),
    Writer("parquet", _ALL, write_parquet, columnar=True),
    Writer("hf", _ALL, write_hf),
    Writer("coco", frozenset({"boxes"}), write_coco),
    Writer("voc", frozenset({"boxes"}), write_voc),
    Writer("yolo", frozenset({"boxes"}), write_yolo),
    Writer("conll", frozenset({"spans"}), write_conll),
    Writer("chat", frozenset({"text"}), write_chat),
)}


def writer_for(name: str, kind: str) -> Writer:
    """The writer of format `name` for a job of `kind`; ValueError naming both if there is none."""
    writer = FORMATS.get(name)
    if writer is None:
        raise ValueError(f"format {name!r} is unknown (formats: {', '.join(FORMATS)}); kind {kind!r}")
    if kind not in writer.kinds:
        raise ValueError(f"format {name!r} does not fit a {kind} job (it takes {', '.join(sorted(writer.kinds))})")
    return writer


def formats_for(kind: str) -> list[str]:
    """The formats a job of `kind` can be exported in, in registry order."""
    return [name for name, writer in FORMATS.items() if kind in writer.kinds]


__all__ = ["FORMATS", "KINDS", "SPLITS", "ExportItem", "FormatSpec", "ItemBatch", "LocalImage", "Writer",
           "formats_for", "writer_for"]
