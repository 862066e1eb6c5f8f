"""Labeling job operations: define a job, import its data, publish it to Label Studio.

Plain functions taking the session first; the caller owns the transaction. An import is
all-or-nothing unless the manager asks to skip bad rows, and items already in the job (same
content hash) are never stored twice.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import Role, User
from errors import Conflict, InvalidInput, NotFound
from projects import label_config
from projects.intake import IntakeError, RowError, read_items
from projects.models import Project, ProjectStatus
from tasks.models import Task

MAX_REPORTED_ERRORS = 200


@dataclass
class ImportReport:
    created: int = 0
    duplicates: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"created": self.created, "duplicates": len(self.duplicates),
                "duplicate_rows": self.duplicates[:MAX_REPORTED_ERRORS],
                "errors": self.errors[:MAX_REPORTED_ERRORS], "error_count": len(self.errors)}


def _config_from(body: dict[str, Any]) -> str:
    template = body.get("template")
    if template is not None:
        if not isinstance(template, dict) or template.get("type") != "text_classification":
            raise InvalidInput("template.type: only 'text_classification' is offered so far")
        return label_config.text_classification(template.get("choices") or [],
                                                template.get("field", "text"),
                                                single=not template.get("multiple", False))
    return body.get("label_config") or ""


def _number(body: dict[str, Any], name: str, default: float, low: float, high: float, kind=int):
    value = body.get(name, default)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not low <= value <= high \
            or (kind is int and int(value) != value):
        raise InvalidInput(f"{name}: a {'whole ' if kind is int else ''}number from {low} to {high}")
    return kind(value)


def create_project(session: Session, user: User, body: dict[str, Any]) -> Project:
    """A draft job from a manager's definition; InvalidInput names the field at fault."""
    title = (body.get("title") or "").strip()
    if not 2 <= len(title) <= 200:
        raise InvalidInput("title: 2 to 200 characters")
    config = label_config.parse(_config_from(body))
    project = Project(title=title, domain=(body.get("domain") or "general")[:60],
                      guidelines=body.get("guidelines") or "", label_config=config.xml,
                      overlap=_number(body, "overlap", 3, 1, 50),
                      consensus_threshold=_number(body, "consensus_threshold", 0.6, 0, 1, float),
                      created_by_id=user.id)
    session.add(project)
    session.flush()
    return project


def managed_project(session: Session, user: User, project_id: int) -> Project:
    """A job the user manages (admins manage all); NotFound otherwise, so ids cannot be probed."""
    project = session.get(Project, project_id)
    if project is None or (user.role != Role.ADMIN and project.created_by_id != user.id):
        raise NotFound(f"project {project_id} not found")
    return project


def import_file(session: Session, project: Project, stream: BinaryIO, filename: str, *,
                skip_bad_rows: bool = False, gold_field: str | None = None) -> ImportReport:
    """Validate every row, then store the new items as tasks; nothing is stored on error
    unless `skip_bad_rows`."""
    if project.status == ProjectStatus.ARCHIVED:
        raise Conflict("the job is archived; data can no longer be added")
    config = label_config.parse(project.label_config)
    seen = set(session.scalars(select(Task.content_hash).where(Task.project_id == project.id)))
    report, tasks = ImportReport(), []
    try:
        for entry in read_items(stream, filename, required_fields=config.data_fields, gold_field=gold_field):
            if isinstance(entry, RowError):
                report.errors.append(str(entry))
            elif entry.content_hash in seen:
                report.duplicates.append(f"{filename}, line {entry.line}: already in this job")
            else:
                seen.add(entry.content_hash)
                tasks.append(Task(project_id=project.id, data=entry.data, content_hash=entry.content_hash,
                                  is_gold=entry.gold is not None, gold_answer=entry.gold,
                                  source_line=entry.line))
    except IntakeError as err:  # the file as a whole is unreadable: say what and where
        raise InvalidInput(str(err)) from None
    if report.errors and not skip_bad_rows:
        raise InvalidInput(f"{len(report.errors)} row(s) of {filename} are invalid; nothing was imported "
                           "(fix them, or import again with skip_bad_rows)", details=report.errors[:MAX_REPORTED_ERRORS])
    session.add_all(tasks)
    session.flush()
    report.created = len(tasks)
    return report


def project_json(session: Session, project: Project) -> dict[str, Any]:
    total, done = session.execute(
        select(func.count(Task.id), func.coalesce(func.sum(Task.annotation_count), 0))
        .where(Task.project_id == project.id)).one()
    return {"id": project.id, "title": project.title, "domain": project.domain,
            "status": project.status.value, "overlap": project.overlap,
            "consensus_threshold": project.consensus_threshold, "guidelines": project.guidelines,
            "label_config": project.label_config, "ls_project_id": project.ls_project_id,
            "tasks": total, "annotations": int(done), "annotations_needed": total * project.overlap}
