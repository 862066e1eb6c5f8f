"""Dataset pages: the buyers' catalog and a version's page (card, preview, access, downloads), and
for managers their versions with a form to build the next one. Rendered from `exports.service`;
static/js/datasets.js posts the actions to the API."""
from __future__ import annotations

from flask import Blueprint, render_template, request

from accounts.auth import current_user, requires
from accounts.models import Role
from exports import service
from exports.build import KIND_OF_TASK
from exports.formats import formats_for
from extensions import db
from projects.label_config import parse
from projects.service import managed_projects

pages = Blueprint("datasets_pages", __name__, url_prefix="/datasets")
READERS = (Role.MANAGER, Role.ADMIN, Role.BUYER)


@pages.get("")
@requires(*READERS)
def catalog():
    """Buyers: published versions; managers: their versions and the form for a new one."""
    user = current_user()
    datasets = [service.dataset_json(db.session, user, d) for d in service.datasets_for(db.session, user)]
    jobs = []
    if user.role != Role.BUYER:
        for project in managed_projects(db.session, user):
            kind = KIND_OF_TASK.get(parse(project.label_config).task_type)
            if kind:
                jobs.append({"id": project.id, "title": project.title, "kind": kind, "formats": formats_for(kind)})
    return render_template("exports/catalog.html", datasets=datasets, jobs=jobs,
                           chosen=request.args.get("project_id", type=int))


@pages.get("/<int:dataset_id>")
@requires(*READERS)
def dataset_page(dataset_id: int):
    user = current_user()
    dataset = service.visible_dataset(db.session, user, dataset_id)
    staff = service.is_staff_of(db.session, user, dataset)
    others = [d for d in service.datasets_for(db.session, user) if d.name == dataset.name and d.id != dataset.id]
    return render_template("exports/show.html", dataset=service.dataset_json(db.session, user, dataset),
                           preview=service.preview(dataset), staff=staff,
                           grants=service.grants_json(db.session, dataset) if staff else [],
                           others=[{"id": d.id, "version": d.version} for d in others])
