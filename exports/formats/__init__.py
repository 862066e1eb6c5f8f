"""Dataset formats: streaming writers from agreed items to the files buyers load, and which jobs each fits.

`FORMATS[name](items, folder, spec)` writes one format into `folder` and returns what it wrote:
the files, and for formats with a file per picture (coco, voc, yolo) the folders holding those,
so the answer stays small. Writers are pure: no Flask, database or network; they read items
once, in order, and hold at most a bounded batch of them. Building into a scratch folder and
moving it into place is the caller's business.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from exports.formats.chat import write_chat
from exports.formats.coco import write_coco
from exports.formats.conll import write_conll
from exports.formats.items import KINDS, SPLITS, ExportItem, FormatSpec, LocalImage
from exports.formats.parquet import write_parquet
from exports.formats.tabular import write_csv, write_jsonl
from exports.formats.voc import write_voc
from exports.formats.yolo import write_yolo

WriteFunction = Callable[[Iterable[ExportItem], Path, FormatSpec], list[Path]]


def write_hf(items: Iterable[ExportItem], folder: Path, spec: FormatSpec) -> list[Path]:
    """See exports.formats.hf (imported on first use: `datasets` is slow to import)."""
    from exports.formats.hf import write_hf as write
    return write(items, folder, spec)


@dataclass(frozen=True)
class Writer:
    """A format, the kinds of job it fits, and its writer; calling it checks the fit first."""
    name: str
    kinds: frozenset[str]
    write: WriteFunction

    def __call__(self, items: Iterable[ExportItem], folder: Path, spec: FormatSpec) -> list[Path]:
        if spec.kind not in self.kinds:
            raise ValueError(f"format {self.name!r} does not fit a {spec.kind} job "
                             f"(it takes {', '.join(sorted(self.kinds))})")
        folder.mkdir(parents=True, exist_ok=True)
        return self.write(items, folder, spec)


_ALL = frozenset(KINDS)
FORMATS: dict[str, Writer] = {writer.name: writer for writer in (
    Writer("jsonl", _ALL, write_jsonl),
    Writer("csv", _ALL, write_csv),
    Writer("parquet", _ALL, write_parquet),
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


__all__ = ["FORMATS", "KINDS", "SPLITS", "ExportItem", "FormatSpec", "LocalImage", "Writer",
           "formats_for", "writer_for"]
