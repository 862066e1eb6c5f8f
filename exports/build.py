"""Building one dataset version: stream the jobs' agreed items into every requested format, write
the card and the manifest, and move the finished folder into place.

Items stream from the database in a seeded shuffled order (`exports.rows`, `exports.splits`), each
assigned its split on the way, in one pass of the query that feeds every format's writer at once
(`exports.fanout`); memory holds a few chunks of rows (on PostgreSQL, a bucket of them being put
in order) and a few bytes per item for the manifest, whatever the dataset's size. The version is
assembled in a scratch folder and renamed into place, so a crash never leaves a half-written
version where a buyer could download it, and its sha256 (over every file's path and digest) is the
same for every build from the same inputs.

A Parquet-only build of labels (classification, pairwise) on PostgreSQL stays in Arrow from the
database to the file (`VersionBuilder._column_batches`): splits, the card's counts, each row's
label, result text and manifest digest are worked out over whole columns, each distinct value
once, and no Python object is made per item. Its files are those of the general path, byte for byte.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from array import array
from collections.abc import Iterator
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Select, Text, cast, select
from sqlalchemy.orm import Session

from exports.card import CardStats, build_card, card_markdown, quality_figures
from exports.fanout import fan_out
from exports.formats import SPLITS, ExportItem, FormatSpec, ItemBatch, LocalImage, parquet, writer_for
from exports.formats.regions import item_label
from exports.formats.outputs import compact_json, json_encoder
from exports.rows import LazyJson, LazyValues, field_texts, read_rows, read_tables
from exports.splits import StratifiedSplitter
from projects.label_config import LabelConfig, parse
from projects.media import MediaStore
from projects.models import Project
from qa.models import Consensus, ConsensusStatus
from tasks.models import Annotation, AnnotationStatus, Task

RESULT_CACHE = 4096  # distinct result texts remembered (parsed, digested) at a time
_ANSWER_JSON = json_encoder(sort_keys=True, separators=(", ", ": "))  # json.dumps(..., sort_keys=True)
KIND_OF_TASK = {"text_classification": "classification", "multi_label": "classification",
                "image_classification": "classification", "ner": "spans", "bbox": "boxes",
                "free_text": "text", "pairwise": "pairwise"}
_CONTROLS = {"classification": ("Choices",), "spans": ("Labels", "HyperTextLabels"),
             "boxes": ("RectangleLabels", "Rectangle"), "text": ("TextArea",), "pairwise": ("Pairwise",)}
_SPLIT_CODE = {split: code for code, split in enumerate(SPLITS)}  # the manifest's int8 per item
_HEX = np.frombuffer(b"0123456789abcdef", np.uint8)


def format_spec(config: LabelConfig, media: MediaStore) -> FormatSpec:
    """How the writers should read a job's items, from its label config."""
    kind = KIND_OF_TASK.get(config.task_type)
    if kind is None:
        raise ValueError("label_config: this job's controls fit no dataset format (no choices, spans, boxes or text)")
    control = next(c for c in config.controls if c.tag in _CONTROLS[kind])
    field_of = {o.name: o.data_field for o in config.objects}
    target = field_of.get(control.to_names[0]) if control.to_names else None
    others = [o.data_field for o in config.objects if o.data_field != target and o.tag in ("Text", "HyperText")]
    spec: dict[str, Any] = {"kind": kind, "fields": tuple(sorted(config.data_fields)), "labels": control.choices,
                            "multi_label": control.multiple, "images": _resolver(media)}
    if kind == "spans" and target:
        spec["text_field"] = target
    elif kind == "boxes" and target:
        spec["image_field"] = target
    elif kind == "text" and target:
        spec["prompt_field"], spec["context_field"] = target, (others[0] if others else None)
    return FormatSpec(**spec)


def _resolver(media: MediaStore):
    def resolve(reference: str) -> LocalImage | None:
        if reference.startswith("/media/") and media.exists(reference.removeprefix("/media/")):
            return LocalImage(media.path(reference.removeprefix("/media/")))
        return None
    return resolve


def _parse_result(text: str | None) -> list[dict[str, Any]]:
    """A consensus result from its JSON text ([] for none)."""
    return (json.loads(text) if text is not None else None) or []


def rounded(confidences: list[float]) -> list[float]:
    """Each confidence to 6 decimals, as cards and files show it; each distinct value rounded once
    (they repeat: vote shares). Zero keeps its own sign: -0.0 and 0.0 are one key but two texts."""
    places = {value: round(value, 6) for value in set(confidences)}
    return [places[value] if value else round(value, 6) for value in confidences]


def rounded_column(confidences: pa.Array) -> pa.Array:
    """`rounded` over an Arrow column: each distinct value rounded once (zeros keep their sign)."""
    encoded = confidences.dictionary_encode()
    places = pa.array(rounded(encoded.dictionary.to_pylist()), pa.float64()).take(encoded.indices)
    return pc.if_else(pc.equal(confidences, 0), confidences, places)


class _Answers:
    """For a Parquet-only build's batches: each row's label as Parquet writes it (`item_label`),
    its result as compact JSON, and the manifest's digest of its answer, worked out once per
    distinct result text (and label) and shared by every row that has it."""

    def __init__(self, spec: FormatSpec, digest) -> None:
        self.spec, self.digest = spec, digest
        self.compact = lru_cache(maxsize=RESULT_CACHE)(lambda text: compact_json(_parse_result(text)))
        self.label = lru_cache(maxsize=RESULT_CACHE)(
            lambda text: item_label(ExportItem(0, {}, SPLITS[0], None, _parse_result(text), 0.0, 0), spec))

    def of(self, labels: pa.DictionaryArray, results: pa.DictionaryArray) -> tuple[pa.Array, pa.Array, np.ndarray]:
        label_words, result_words = [*labels.dictionary.to_pylist(), None], [*results.dictionary.to_pylist(), None]
        label_codes = labels.indices.fill_null(len(label_words) - 1).to_numpy().astype(np.int64)
        result_codes = results.indices.fill_null(len(result_words) - 1)
        texts = pa.array(list(map(self.compact, result_words)), pa.string()).take(result_codes)
        item_labels = labels.cast(pa.string())
        if item_labels.null_count:  # an unlabeled item shows the label its result gives
            item_labels = pc.coalesce(item_labels, pa.array(list(map(self.label, result_words)),
                                                            pa.string()).take(result_codes))
        pairs, where = np.unique(label_codes * len(result_words) + result_codes.to_numpy(), return_inverse=True)
        digests = np.array([self.digest(label_words[pair // len(result_words)], result_words[pair % len(result_words)])
                            for pair in pairs.tolist()], np.int64)
        return item_labels, texts, digests[where]


def answer_digest(label: str | None, result_text: str | None) -> int:
    """The manifest's digest of an item's final answer: [label, result] as json.dumps(..., sort_keys=True) writes it."""
    answer = _ANSWER_JSON([label, _parse_result(result_text)]).encode()
    return int.from_bytes(hashlib.blake2b(answer, digest_size=8).digest(), "big", signed=True)


def pseudonym(secret: str, user_id: int) -> str:
    """A stable stand-in for an annotator in exports: buyers never see who labeled what."""
    return "a-" + hashlib.sha256(f"{secret}:annotator:{user_id}".encode()).hexdigest()[:10]


class VersionBuilder:
    """Writes one version's files into `scratch`; `finish` moves them to `target`."""

    def __init__(self, session: Session, projects: list[Project], options: dict[str, Any], secret: str,
                 media: MediaStore):
        self.session, self.projects, self.options, self.secret = session, projects, options, secret
        self.config = parse(projects[0].label_config)
        self.spec = format_spec(self.config, media)
        self.stats = CardStats()
        self._ids, self._digests, self._splits = array("q"), array("q"), array("b")
        self._answer_digest = lru_cache(maxsize=RESULT_CACHE)(answer_digest)

    def batches(self, spill: Path) -> Iterator[ItemBatch]:
        """The version's items in shuffled order with their splits, a batch per chunk of rows,
        each counted for the card and the manifest as it passes. Scratch files go in a folder
        inside `spill`, gone when the batches end (a killed build leaves it with the rest of its
        scratch folder, which the retry clears)."""
        splitter = StratifiedSplitter(tuple(self.options["split"]), self.options["seed"])
        annotated = self.options["include_annotations"]
        # Each distinct result text parsed once: the writers then encode each shared object once
        # per batch (a classification job has about one result per label).
        parse_result = lru_cache(maxsize=RESULT_CACHE)(_parse_result)
        # Parquet alone, for most kinds, reads no data but the exported fields: on PostgreSQL only
        # those are read (the data's JSON took longer to parse than the rest of an item).
        parquet_only = set(self.options["formats"]) == {"parquet"} and not parquet.reads_data(self.spec)
        fields = self.spec.fields if parquet_only else None
        if parquet_only and not annotated and parquet.answers_by_label(self.spec):
            tables = read_tables(self.session.connection(), self._query(), self.options["seed"], spill,
                                 fields)
            if tables is not None:
                yield from self._column_batches(tables, splitter, fields)
                return
        for rows in read_rows(self.session.connection(), self._query(), self.options["seed"], spill,
                              fields):
            people = self._annotations(rows.ids) if annotated else {}
            batch = ItemBatch(rows.ids, rows.data, splitter.assign_all(rows.labels), rows.labels,
                              list(map(parse_result, rows.results)), rounded(rows.confidences), rows.votes,
                              [people.get(task_id, []) for task_id in rows.ids] if annotated else None, rows.fields)
            self._record(batch, rows.methods, rows.results)
            yield batch

    def _column_batches(self, tables: Iterator[pa.Table], splitter: StratifiedSplitter,
                        fields: tuple[str, ...]) -> Iterator[ItemBatch]:
        """`batches` of a Parquet-only build from Arrow tables (`read_tables`), kept in Arrow: each
        batch carries the columns Parquet writes (ItemBatch.columns), made a distinct label,
        result and confidence at a time, and is counted for the card and the manifest in bulk.
        Its list columns stay unmade unless something reads them."""
        answers, names = _Answers(self.spec, self._answer_digest), pa.array(SPLITS)
        for table in tables:
            ids, label, result, method, confidence, votes = (
                table.column(name).combine_chunks() for name in ("id", "label", "result", "method", "confidence", "votes"))
            splits = splitter.assign_codes(label)
            confidence = rounded_column(confidence)
            self.stats.add_columns(label, splits, votes, confidence, method)
            item_labels, results, digests = answers.of(label, result)
            self._ids.frombytes(ids.to_numpy().astype(np.int64).tobytes())
            self._digests.frombytes(digests.tobytes())
            self._splits.frombytes(splits.tobytes())
            split_names = names.take(pa.array(splits))
            data = LazyJson(table.column("data"))
            yield ItemBatch(LazyValues(ids), data, LazyValues(split_names), LazyValues(label),
                            LazyValues(result, _parse_result), LazyValues(confidence), LazyValues(votes),
                            fields=field_texts(table, fields, data),
                            columns={"split": split_names, "id": ids, "label": item_labels, "confidence": confidence,
                                     "annotators": votes, "result": results})

    def _query(self) -> Select:
        """The version's rows, unordered (`read_rows` orders them): JSON columns as text, parsed
        here (psycopg's own JSON loading took longer than the rest of reading an item)."""
        options = self.options
        query = (select(Task.id, cast(Task.data, Text).label("data"), Consensus.label,
                        cast(Consensus.result, Text).label("result"), Consensus.confidence,
                        Consensus.votes, Consensus.method)
                 .join(Consensus, Consensus.task_id == Task.id)
                 .where(Consensus.project_id.in_([p.id for p in self.projects]),
                        Consensus.status.in_([ConsensusStatus.AGREED, ConsensusStatus.REVIEWED]),
                        Consensus.confidence >= options["min_confidence"]))
        if options["labels"]:
            query = query.where(Consensus.label.in_(options["labels"]))
        if options["batch_ids"]:
            query = query.where(Task.batch_id.in_(options["batch_ids"]))
        return query

    def _annotations(self, task_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
        found: dict[int, list[dict[str, Any]]] = {}
        for row in self.session.execute(
                select(Annotation.task_id, Annotation.annotator_id, Annotation.label, Annotation.result)
                .where(Annotation.task_id.in_(task_ids), Annotation.status == AnnotationStatus.ACCEPTED)
                .order_by(Annotation.task_id, Annotation.id)):
            found.setdefault(row.task_id, []).append(
                {"annotator": pseudonym(self.secret, row.annotator_id), "label": row.label, "result": row.result})
        return found

    def _record(self, batch: ItemBatch, methods: list[str], result_texts: list[str | None]) -> None:
        self.stats.add(batch, methods)
        self._ids.extend(batch.ids)
        self._digests.extend(map(self._answer_digest, batch.labels, result_texts))
        self._splits.extend(map(_SPLIT_CODE.__getitem__, batch.splits))

    def write(self, scratch: Path, name: str, license: str, description: str) -> None:
        """Every format (from one pass over the items), then the manifest and the card, into `scratch`."""
        writers = [partial(writer_for(fmt, self.spec.kind).batches, folder=scratch / fmt, spec=self.spec)
                   for fmt in self.options["formats"]]
        fan_out(self.batches(scratch), writers)
        self._write_manifest(scratch / "manifest.tsv")
        card = build_card(name, self.projects, self.config.task_type, list(self.spec.labels), self.stats,
                          quality_figures(self.session, self.projects), self.options, license, description)
        (scratch / "card.json").write_text(json.dumps(card, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
        (scratch / "README.md").write_text(card_markdown(card), encoding="utf-8")
        self.card = card

    def _write_manifest(self, path: Path) -> None:
        """One line per item in id order: id, split, a digest of its final answer (for diffs)."""
        ids = np.frombuffer(self._ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        digests, splits = np.frombuffer(self._digests, dtype=np.int64), np.frombuffer(self._splits, dtype=np.int8)
        with path.open("wb") as out:
            for start in range(0, len(order), 100_000):
                part = order[start:start + 100_000]
                out.write(manifest_lines(ids[part], splits[part], digests[part]))


def manifest_lines(ids: np.ndarray, splits: np.ndarray, digests: np.ndarray) -> bytes:
    """f"{id}\\t{SPLITS[split]}\\t{digest as 16 hex digits}\\n" of each item, in UTF-8, made in
    Arrow and numpy (a million f-strings took about a second)."""
    hexed = _HEX[np.stack([(digits := digests.astype(">i8").view(np.uint8).reshape(-1, 8)) >> 4, digits & 15],
                          axis=2).reshape(-1, 16)]
    ended = np.concatenate([hexed, np.full((len(ids), 1), ord("\n"), np.uint8)], axis=1)
    tails = pa.StringArray.from_buffers(len(ids), pa.py_buffer(np.arange(0, 17 * len(ids) + 1, 17, dtype=np.int32)),
                                        pa.py_buffer(ended.tobytes()))
    lines = pc.binary_join_element_wise(pc.cast(pa.array(ids), pa.string()),
                                        pa.array(SPLITS).take(pa.array(splits)), tails, "\t")
    offsets = np.frombuffer(lines.buffers()[1], np.int32, len(lines) + 1, lines.offset * 4)
    return lines.buffers()[2].to_pybytes()[offsets[0]:offsets[-1]]


def file_digests(folder: Path) -> list[tuple[str, str, int]]:
    """(relative path, sha256, size) of every file under `folder`, in path order."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as source:
            while block := source.read(1 << 20):
                digest.update(block)
        found.append((path.relative_to(folder).as_posix(), digest.hexdigest(), path.stat().st_size))
    return found


def version_digest(files: list[tuple[str, str, int]]) -> str:
    """The whole version's sha256: over "path  sha256" lines, as `sha256sum` prints them."""
    return hashlib.sha256("".join(f"{sha}  {path}\n" for path, sha, _ in files).encode()).hexdigest()


def replace_folder(scratch: Path, target: Path) -> None:
    """Move a finished version into place (a previous finished copy of it is replaced whole)."""
    if target.exists():
        shutil.rmtree(target)
    scratch.rename(target)
