"""The manager's job pages: the list of jobs, the job wizard, a job's page and its settings form.

Server-rendered pages over the projects API: the pages show what the service knows, and the light
scripts under static/js call `/api/projects...` for everything that changes something. Guidelines
are the one user text shown as formatted text; `render_markdown` escapes it before formatting.
"""
from __future__ import annotations

import re

from flask import Blueprint, render_template
from markupsafe import Markup, escape

from accounts.auth import current_user, requires
from accounts.models import Role
from extensions import db
from i18n import gettext
from projects import service
from projects.models import ProjectStatus
from vendor import LABEL_STUDIO_VERSION

pages = Blueprint("projects_pages", __name__, url_prefix="/projects")
STAFF = (Role.MANAGER, Role.ADMIN)
# English message ids, shown in the user's language (i18n) when a page renders.
STATUS_NAMES = {"draft": "Draft", "active": "Active", "paused": "Paused", "completed": "Completed",
                "archived": "Archived"}
# The settings the form edits (templates/projects/_fields.html); the label config is set in the wizard.
FORM_FIELDS = frozenset({"title", "domain", "guidelines", "overlap", "batch_size", "batch_group_field",
                         "gold_share", "consensus_threshold", "min_gold_accuracy", "deadline", "piece_rate",
                         "required_skills", "min_gold_answers", "max_overlap", "qa_method"})
# What the button that moves a job to each status says.
TRANSITION_NAMES = {"active": "Activate", "paused": "Pause", "completed": "Complete", "archived": "Archive"}


@pages.app_context_processor
def _names() -> dict:
    return {"status_names": {status: gettext(name) for status, name in STATUS_NAMES.items()},
            "label_studio_version": LABEL_STUDIO_VERSION}


@pages.get("")
@requires(*STAFF)
def job_list():
    """The jobs the manager runs (admins: every job), newest first, with their progress."""
    jobs = [service.project_json(db.session, p) for p in service.managed_projects(db.session, current_user())]
    return render_template("projects/list.html", jobs=jobs)


@pages.get("/new")
@requires(*STAFF)
def wizard():
    """The job wizard: template or XML, live editor preview, settings; the script posts the job."""
    return render_template("projects/new.html")


@pages.get("/<int:project_id>")
@requires(*STAFF)
def job_page(project_id: int):
    """One job: settings, guidelines, lifecycle, publishing, uploads and batch progress."""
    project = service.managed_project(db.session, current_user(), project_id)
    job = service.project_json(db.session, project)
    return render_template("projects/show.html", job=job, guidelines=render_markdown(job["guidelines"]),
                           moves=moves(project.status.value, project.ls_project_id is not None),
                           transitions={s.value: moves(s.value, True) for s in ProjectStatus})


def moves(status: str, published: bool) -> list[tuple[str, str]]:
    """The statuses a job can move to from `status`, with their button texts, in lifecycle order."""
    targets = sorted(service.TRANSITIONS[ProjectStatus(status)], key=list(ProjectStatus).index)
    # Publishing activates a draft; before it, activating is refused, so no button offers it.
    return [(s.value, gettext(TRANSITION_NAMES[s.value])) for s in targets if published or s != ProjectStatus.ACTIVE]


@pages.get("/<int:project_id>/edit")
@requires(*STAFF)
def edit_page(project_id: int):
    """The settings form; the script sends the changed fields with PATCH."""
    project = service.managed_project(db.session, current_user(), project_id)
    job = service.project_json(db.session, project)
    frozen = set() if project.status == ProjectStatus.DRAFT else FORM_FIELDS - service.EDITABLE_AFTER_DRAFT
    return render_template("projects/edit.html", job=job, frozen=frozen,
                           archived=project.status == ProjectStatus.ARCHIVED)


# --- a small, safe Markdown: headings, lists, code blocks, emphasis, code, http(s) links -----------
# Everything is escaped first; only the tags written below are ever produced, so no user HTML
# (scripts, attributes, javascript: links) can reach the page.

_HEADING = re.compile(r"(#{1,6})\s+(.*)")
_BULLET = re.compile(r"\s*[-*+]\s+(.*)")
_NUMBERED = re.compile(r"\s*\d+[.)]\s+(.*)")
_INLINE = [(re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
           (re.compile(r"(?<!\*)\*(?![\s*])(.+?)(?<![\s*])\*(?!\*)"), r"<em>\1</em>"),
           (re.compile(r"\[([^\]\n]+)\]\((https?://[^\s()]+)\)"),
            r'<a href="\2" rel="nofollow noopener noreferrer">\1</a>')]


def _inline(text: str) -> str:
    """Escape one line, then format `code`, **strong**, *emphasis* and [links](https://...)."""
    parts = text.split("`")
    out = []
    for i, part in enumerate(parts):
        piece = str(escape(part))
        if i % 2 and i < len(parts) - 1:  # between a pair of backticks: code, left as it is
            out.append(f"<code>{piece}</code>")
            continue
        for pattern, replacement in _INLINE:
            piece = pattern.sub(replacement, piece)
        out.append(piece if i % 2 == 0 else "`" + piece)
    return "".join(out)


class _Markdown:
    """One pass over the lines: paragraphs, headings, one level of lists, fenced code."""

    def __init__(self) -> None:
        self.html: list[str] = []
        self.paragraph: list[str] = []
        self.list_tag: str | None = None
        self.code: list[str] | None = None

    def close(self) -> None:
        """End the open paragraph or list."""
        if self.paragraph:
            self.html.append("<p>" + "<br>".join(self.paragraph) + "</p>")
            self.paragraph.clear()
        if self.list_tag:
            self.html.append(f"</{self.list_tag}>")
            self.list_tag = None

    def close_code(self) -> None:
        self.html.append("<pre><code>" + str(escape("\n".join(self.code or []))) + "</code></pre>")
        self.code = None

    def line(self, line: str) -> None:
        fence = line.strip().startswith("```")
        if self.code is not None:  # inside a fenced block: verbatim until the closing fence
            if fence:
                self.close_code()
            else:
                self.code.append(line)
            return
        heading, bullet, numbered = _HEADING.fullmatch(line), _BULLET.fullmatch(line), _NUMBERED.fullmatch(line)
        if fence or not line.strip() or heading:
            self.close()
        if fence:
            self.code = []
        elif heading:
            level = min(len(heading.group(1)) + 2, 6)  # the page has its own h1 and h2
            self.html.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
        elif bullet or numbered:
            tag = "ul" if bullet else "ol"
            if self.list_tag != tag:
                self.close()
                self.html.append(f"<{tag}>")
                self.list_tag = tag
            self.html.append(f"<li>{_inline((bullet or numbered).group(1))}</li>")
        elif line.strip():
            if self.list_tag:
                self.close()
            self.paragraph.append(_inline(line.strip()))

    def finish(self) -> Markup:
        if self.code is not None:
            self.close_code()
        self.close()
        return Markup("\n".join(self.html))


def render_markdown(text: str) -> Markup:
    """Guidelines as HTML: a safe subset of Markdown; anything else shows as plain text."""
    renderer = _Markdown()
    for line in text.replace("\r\n", "\n").split("\n"):
        renderer.line(line)
    return renderer.finish()
