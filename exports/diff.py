"""What changed between two dataset versions: items added, removed and relabeled.

Each version keeps a manifest (`manifest.tsv`: id, split, digest of the final answer, in id order),
so two versions of any size are compared by one merge over both files, in constant memory.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

SAMPLE = 100  # ids listed per kind of change; the counts are always complete


def _entries(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            task, _split, digest = line.rstrip("\n").split("\t")
            yield int(task), digest


def diff_manifests(old: Path, new: Path) -> dict[str, Any]:
    """Counts and the first ids of items added, removed and relabeled from `old` to `new`."""
    changes: dict[str, dict[str, Any]] = {k: {"count": 0, "ids": []} for k in ("added", "removed", "relabeled")}

    def note(kind: str, task: int) -> None:
        changes[kind]["count"] += 1
        if len(changes[kind]["ids"]) < SAMPLE:
            changes[kind]["ids"].append(task)

    before, after = _entries(old), _entries(new)
    a, b = next(before, None), next(after, None)
    unchanged = 0
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            note("removed", a[0])
            a = next(before, None)
        elif a is None or b[0] < a[0]:
            note("added", b[0])
            b = next(after, None)
        else:
            if a[1] != b[1]:
                note("relabeled", a[0])
            else:
                unchanged += 1
            a, b = next(before, None), next(after, None)
    return {**changes, "unchanged": unchanged}
