"""What the dataset writers take: agreed items (`ExportItem`, or `ItemBatch` columns of them) and a
description of the job (`FormatSpec`).

All are plain values: the job that builds a dataset reads them from the database, the writers
only turn them into files, so they run the same in a worker, a test or a benchmark. The build
streams `ItemBatch`es, one per chunk of query rows: the columnar writers (Parquet, JSONL) read
the columns as they are, and no Python object is made per row for them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, Literal

Kind = Literal["classification", "boxes", "spans", "text", "pairwise"]
KINDS: tuple[str, ...] = ("classification", "boxes", "spans", "text", "pairwise")
SPLITS: tuple[str, ...] = ("train", "validation", "test")


@dataclass(frozen=True)
class ExportItem:
    id: int  # our task id
    data: dict[str, Any]  # the task's data, e.g. {"text": "…"} or {"image": "/media/<sha>.png"}
    split: str  # "train" | "validation" | "test"
    label: str | None  # consensus classification label ("a|b" joined for multi-label), if any
    result: list[dict]  # consensus in Label Studio result format (regions), may be []
    confidence: float
    annotators: int  # number of annotators behind the consensus
    annotations: list[dict] | None = None  # individual ones: {"annotator", "result", "label"}


@dataclass(frozen=True)
class ItemBatch:
    """Items as parallel columns: row `i` of every list is one item (the fields of ExportItem)."""
    ids: list[int]
    data: Sequence[dict[str, Any]]
    splits: list[str]
    labels: list[str | None]
    results: list[list[dict]]
    confidences: list[float]
    annotators: list[int]
    annotations: list[list[dict] | None] | None = None  # None: no item has them (the version leaves them out)
    # Data fields already as text, when the reader had them so (strings as they are, other values
    # as compact JSON, None when missing; a list or an Arrow string array): what Parquet writes,
    # without parsing each item's data.
    fields: dict[str, Sequence[str | None]] | None = None
    # The batch as Arrow columns, when the reader had them so (a Parquet-only build on PostgreSQL):
    # "split", and Parquet's own "id", "label" (as item_label gives it), "confidence",
    # "annotators" and "result" (compact JSON); Parquet writes them as they are.
    columns: dict[str, Any] | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def item(self, row: int) -> ExportItem:
        return ExportItem(self.ids[row], self.data[row], self.splits[row], self.labels[row], self.results[row],
                          self.confidences[row], self.annotators[row],
                          None if self.annotations is None else self.annotations[row])

    def items(self) -> Iterator[ExportItem]:
        return map(self.item, range(len(self.ids)))

    @classmethod
    def of(cls, items: list[ExportItem]) -> ItemBatch:
        """Items as one batch."""
        annotations = [item.annotations for item in items]
        return cls([item.id for item in items], [item.data for item in items], [item.split for item in items],
                   [item.label for item in items], [item.result for item in items],
                   [item.confidence for item in items], [item.annotators for item in items],
                   None if all(entry is None for entry in annotations) else annotations)


def item_batches(items: Iterable[ExportItem], size: int = 10_000) -> Iterator[ItemBatch]:
    """Items in batches of at most `size`, in order."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield ItemBatch.of(chunk)


def each_item(batches: Iterable[ItemBatch]) -> Iterator[ExportItem]:
    """The items of the batches, in order."""
    for batch in batches:
        yield from batch.items()


@dataclass(frozen=True)
class LocalImage:
    """A task's picture on this machine; width/height in pixels when known."""
    path: Path
    width: int | None = None
    height: int | None = None


ImageSource = Callable[[str], LocalImage | None] | Mapping[str, LocalImage]  # None: no such picture


@dataclass(frozen=True)
class FormatSpec:
    """The job an export comes from: its kind, the data fields to export, and the label set in order."""
    kind: Kind
    fields: tuple[str, ...]  # data fields exported as columns, in this order
    labels: tuple[str, ...] = ()  # classes (classification), span or box labels, in the job's order
    multi_label: bool = False  # classification: several labels per item, joined by "|"
    text_field: str = "text"  # spans: the text their offsets point into
    image_field: str = "image"  # boxes: the picture's reference, resolved by `images`
    prompt_field: str = "question"  # text: the question or instruction answered
    context_field: str | None = None  # text: a passage shown above the prompt, if the job has one
    images: ImageSource | None = None  # boxes: data[image_field] -> a local file (and its size)
    chat_style: Literal["messages", "instruction"] = "messages"

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind: one of {', '.join(KINDS)} (got {self.kind!r})")
        if not self.fields or len(set(self.fields)) != len(self.fields):
            raise ValueError(f"fields: distinct data field names are required (got {self.fields!r})")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels: each label once (got {self.labels!r})")
        if self.chat_style not in ("messages", "instruction"):
            raise ValueError(f"chat_style: 'messages' or 'instruction' (got {self.chat_style!r})")
        missing = [name for name in self.role_fields if name not in self.fields]
        if missing:
            raise ValueError(f"fields: a {self.kind} job exports {missing[0]!r}; add it to fields")

    @property
    def role_fields(self) -> tuple[str, ...]:
        """The data fields this kind of job cannot do without."""
        if self.kind == "spans":
            return (self.text_field,)
        if self.kind == "boxes":
            return (self.image_field,)
        if self.kind == "text":
            return (self.prompt_field,) + ((self.context_field,) if self.context_field else ())
        return ()

    def locate(self, item: ExportItem) -> LocalImage:
        """The item's picture as a local file (and its size, if the source knows it)."""
        reference = item.data.get(self.image_field)
        if isinstance(reference, str) and self.images is not None:
            found = self.images.get(reference) if isinstance(self.images, Mapping) else self.images(reference)
            if found is not None:
                return found
        raise ValueError(f"task {item.id}: no local image for {self.image_field}={reference!r}")


def check_split(item: ExportItem) -> str:
    """The item's split, or ValueError naming the task when it is none of SPLITS."""
    if item.split not in SPLITS:
        raise ValueError(f"task {item.id}: split {item.split!r} is not one of {', '.join(SPLITS)}")
    return item.split
