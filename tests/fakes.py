"""An in-memory stand-in for the Label Studio gateway, for fast unit tests only.

It keeps the same contract as `labelstudio.gateway.Gateway` (the integration tests hold the real
one to it) and can be switched "down" to test how callers behave when Label Studio is away.
"""
from __future__ import annotations

import itertools
from typing import Any

from labelstudio.gateway import LabelStudioUnavailable


class FakeGateway:
    def __init__(self) -> None:
        self.down = False
        self.projects: dict[int, dict[str, Any]] = {}
        self.tasks: dict[int, dict[str, Any]] = {}
        self.annotations: dict[int, dict[str, Any]] = {}
        self.users: dict[str, int] = {}
        self._ids = itertools.count(1)

    def __enter__(self) -> "FakeGateway":
        return self

    def __exit__(self, *_exc: object) -> None:
        pass

    def _up(self, what: str) -> None:
        if self.down:
            raise LabelStudioUnavailable(f"Label Studio is unreachable during {what}")

    def check(self) -> str:
        self._up("whoami")
        return "admin@fake"

    def find_project(self, job_key: str) -> int | None:
        self._up("list projects")
        return next((pid for pid, p in self.projects.items() if p["key"] == job_key), None)

    def create_project(self, job_key: str, title: str, label_config: str, overlap: int) -> int:
        self._up("create project")
        pid = next(self._ids)
        self.projects[pid] = {"key": job_key, "title": title, "overlap": overlap}
        return pid

    def task_count(self, project_id: int) -> int:
        return sum(1 for t in self.tasks.values() if t["project"] == project_id)

    def import_tasks(self, project_id: int, tasks: list[tuple[int, dict]]) -> dict[int, int]:
        self._up("import tasks")
        mapping = {}
        for our_id, data in tasks:
            ls_id = next(self._ids)
            self.tasks[ls_id] = {"project": project_id, "our_id": our_id, "data": data}
            mapping[our_id] = ls_id
        return mapping

    def existing_tasks(self, project_id: int) -> dict[int, int]:
        return {t["our_id"]: ls for ls, t in self.tasks.items() if t["project"] == project_id}

    def ensure_user(self, email: str, username: str, display_name: str) -> int:
        self._up("create user")
        return self.users.setdefault(email, next(self._ids))

    def find_annotation(self, ls_task_id: int, our_id: int) -> int | None:
        self._up("list annotations")
        return next((a for a, v in self.annotations.items() if v["task"] == ls_task_id and v["our_id"] == our_id), None)

    def create_annotation(self, ls_task_id: int, our_id: int, result: list, completed_by: int,
                          lead_time: float | None) -> int:
        self._up("create annotation")
        ann_id = next(self._ids)
        self.annotations[ann_id] = {"task": ls_task_id, "our_id": our_id, "result": result,
                                    "completed_by": completed_by}
        return ann_id

    def export_annotations(self, project_id: int) -> dict[int, list[dict]]:
        self._up("export annotations")
        found: dict[int, list[dict]] = {ls: [] for ls, t in self.tasks.items() if t["project"] == project_id}
        for ann_id, ann in self.annotations.items():
            if ann["task"] in found:
                found[ann["task"]].append({"id": ann_id, "import_id": ann["our_id"], "completed_by": ann["completed_by"],
                                           "result": ann["result"], "updated_at": None, "was_cancelled": False})
        return found
