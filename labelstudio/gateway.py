"""Gateway to the Label Studio server: the one module that builds an SDK client.

Label Studio holds the labeling projects, their tasks and annotations. Domain code calls the
methods here with our ids and plain values and gets plain values back; every SDK or network
failure comes out as one of three errors a user can act on:
- `LabelStudioUnavailable` (503): not reachable or timed out; retry later, nothing is lost.
- `LabelStudioAuthError` (503): the server refused our token; an operator must fix the setting.
- `LabelStudioRejected` (422): the server refused the request itself (e.g. a bad label config).

Label Studio gives no exactly-once guarantees (see ../shared/LABEL_STUDIO.md: a blind retry of
an import duplicates tasks, concurrent writes can double annotations), so everything we push
carries our own id and the callers reconcile by it before retrying.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Iterator

import httpx
from flask import current_app

from errors import InvalidInput, ServiceUnavailable

logger = logging.getLogger(__name__)
TASK_ID_KEY = "qianling_task_id"  # our task id, stored in every Label Studio task's data
PROJECT_MARK = "qianling-job:"  # + "<installation uid>:<job id>", in a project's description


class LabelStudioUnavailable(ServiceUnavailable):
    code = "label_studio_unavailable"


class LabelStudioAuthError(ServiceUnavailable):
    code = "label_studio_auth"


class LabelStudioRejected(InvalidInput):
    code = "label_studio_rejected"


class Gateway:
    """A thin, typed facade over label-studio-sdk for one server and token."""

    def __init__(self, base_url: str, token: str | None, timeout: float = 30.0) -> None:
        if not token:
            raise LabelStudioAuthError("LABEL_STUDIO_TOKEN is not set; run bin/setup or set it")
        from label_studio_sdk import LabelStudio  # imported late: it reads the environment on import

        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(timeout=timeout, follow_redirects=True)
        self._client = LabelStudio(base_url=self.base_url, api_key=token, timeout=timeout,
                                   httpx_client=self._http)
        self._user_ids: dict[str, int] | None = None  # e-mail -> Label Studio user id, listed once

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> "Gateway":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @classmethod
    def from_app(cls) -> "Gateway":
        cfg = current_app.config
        return cls(cfg["LABEL_STUDIO_URL"], cfg["LABEL_STUDIO_TOKEN"], cfg["LABEL_STUDIO_TIMEOUT"])

    def _call(self, what: str, fn, *args, **kwargs):
        from label_studio_sdk.core.api_error import ApiError

        try:
            return fn(*args, **kwargs)
        except httpx.TransportError as err:
            logger.warning("event=ls_unreachable call=%s error=%s", what, type(err).__name__)
            raise LabelStudioUnavailable(
                f"Label Studio at {self.base_url} is unreachable ({type(err).__name__}) during {what}; "
                "your data is kept and the step can be retried") from err
        except ApiError as err:
            if err.status_code in (401, 403):
                raise LabelStudioAuthError(
                    f"Label Studio at {self.base_url} refused our API token during {what}; "
                    "check LABEL_STUDIO_TOKEN") from err
            if err.status_code is not None and 400 <= err.status_code < 500:
                raise LabelStudioRejected(f"Label Studio rejected {what}: {_brief(err.body)}") from err
            raise LabelStudioUnavailable(
                f"Label Studio failed during {what} (HTTP {err.status_code}); retry later") from err

    # -- server -----------------------------------------------------------------------------
    def check(self) -> str:
        """Raise unless the server answers and accepts our token; return the token's user e-mail."""
        return self._call("whoami", self._client.users.whoami).email

    # -- projects ---------------------------------------------------------------------------
    def find_project(self, job_key: str) -> int | None:
        """The Label Studio project created earlier for our job, if any (after a crash)."""
        mark = f"{PROJECT_MARK}{job_key}"
        for project in self._call("list projects", lambda: list(self._client.projects.list(page_size=100))):
            if (project.description or "").endswith(mark):
                return project.id
        return None

    def create_project(self, job_key: str, title: str, label_config: str, overlap: int) -> int:
        """A new project for our job; `job_key` ("<installation uid>:<job id>") marks it as ours."""
        suffix = f" #{job_key.rpartition(':')[2]}"  # Label Studio wants 3-50 characters
        project = self._call("create project", self._client.projects.create,
                             title=title[:50 - len(suffix)] + suffix,
                             description=f"Managed by Qianling. {PROJECT_MARK}{job_key}",
                             label_config=label_config, maximum_annotations=overlap,
                             show_skip_button=False)
        return project.id

    def task_count(self, project_id: int) -> int:
        return self._call("get project", self._client.projects.get, id=project_id).task_number or 0

    # -- tasks ------------------------------------------------------------------------------
    def import_tasks(self, project_id: int, tasks: list[tuple[int, dict[str, Any]]]) -> dict[int, int]:
        """Create tasks (our id, data); return our id -> Label Studio task id. Not idempotent:
        after a failure call `existing_tasks` first and import only what is missing."""
        payload = [{"data": {**data, TASK_ID_KEY: our_id}} for our_id, data in tasks]
        reply = self._call("import tasks", self._client.projects.import_tasks, id=project_id,
                           request=payload, return_task_ids=True)
        ls_ids = list(reply.task_ids or [])
        if len(ls_ids) != len(tasks):
            raise LabelStudioUnavailable(f"Label Studio returned {len(ls_ids)} ids for {len(tasks)} tasks")
        return {our_id: ls_id for (our_id, _), ls_id in zip(tasks, ls_ids)}

    def existing_tasks(self, project_id: int) -> dict[int, int]:
        """Our task id -> Label Studio task id for every task of ours already in the project."""
        found: dict[int, int] = {}
        for task in self._call("list tasks", lambda: list(self._iter_tasks(project_id))):
            our_id = (task.data or {}).get(TASK_ID_KEY)
            if our_id is not None:
                found.setdefault(int(our_id), task.id)
        return found

    def _iter_tasks(self, project_id: int) -> Iterator[Any]:
        yield from self._client.tasks.list(project=project_id, page_size=500)

    # -- users ------------------------------------------------------------------------------
    def ensure_user(self, email: str, username: str, display_name: str) -> int:
        """The Label Studio user id for this e-mail, creating a (login-less) member if needed.
        The server's users are listed once per gateway (a delivery run meets many new people)."""
        if self._user_ids is None:
            users = self._call("list users", lambda: list(self._client.users.list()))
            self._user_ids = {(u.email or "").lower(): u.id for u in users}
        key = email.lower()
        if key not in self._user_ids:
            user = self._call("create user", self._client.users.create, email=email,
                              username=username, first_name=display_name[:30])
            self._user_ids[key] = user.id
        return self._user_ids[key]

    # -- annotations ------------------------------------------------------------------------
    def find_annotation(self, ls_task_id: int, our_id: int) -> int | None:
        """The Label Studio annotation carrying our annotation id, if it already arrived."""
        for ann in self.list_annotations(ls_task_id):
            if ann.get("import_id") == our_id:
                return ann["id"]
        return None

    def create_annotation(self, ls_task_id: int, our_id: int, result: list[dict], completed_by: int,
                          lead_time: float | None) -> int:
        """Write one annotation attributed to `completed_by`; `our_id` travels as its import_id."""
        ann = self._call("create annotation", self._client.annotations.create, id=ls_task_id,
                         result=result, completed_by=completed_by, import_id=our_id,
                         lead_time=lead_time)
        return ann.id

    def export_annotations(self, project_id: int) -> dict[int, list[dict[str, Any]]]:
        """Every task's annotations in the project, in one export call: task id -> annotations
        (id, import_id, completed_by, result, updated_at). For reconciling, not the hot path."""
        def fetch() -> bytes:
            return b"".join(self._client.projects.exports.download_sync(
                id=project_id, export_type="JSON", download_all_tasks=True))
        tasks = json.loads(self._call("export annotations", fetch) or b"[]")
        return {task["id"]: [{"id": a["id"], "import_id": a.get("import_id"),
                              "completed_by": _user_id(a.get("completed_by")), "result": a.get("result") or [],
                              "updated_at": a.get("updated_at"), "was_cancelled": a.get("was_cancelled", False)}
                             for a in task.get("annotations", [])] for task in tasks}

    def list_annotations(self, ls_task_id: int) -> list[dict[str, Any]]:
        anns = self._call("list annotations", self._client.annotations.list, id=ls_task_id)
        return [{"id": a.id, "import_id": a.import_id, "completed_by": a.completed_by,
                 "result": a.result, "lead_time": a.lead_time} for a in anns]


def _user_id(value: Any) -> int | None:
    """Exports give `completed_by` as an id or as a user object, depending on the version."""
    if isinstance(value, dict):
        value = value.get("id")
    return int(value) if value is not None else None


def _brief(body: Any) -> str:
    if isinstance(body, dict) and body.get("validation_errors"):
        body = body["validation_errors"]
    text = str(body)
    return text if len(text) < 300 else text[:297] + "..."

