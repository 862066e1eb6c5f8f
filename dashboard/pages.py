"""`/home`: where each role starts. Managers and admins get the dashboard of their jobs."""
from __future__ import annotations

from flask import Blueprint, render_template

from accounts.auth import current_user, requires
from accounts.models import Role
from dashboard import charts, service
from extensions import db
from i18n import format_datetime, gettext

pages = Blueprint("dashboard", __name__)


@pages.get("/home")
@requires(*Role)
def home():
    user = current_user()
    if user.role in (Role.MANAGER, Role.ADMIN):
        figures = service.manager_dashboard(db.session, user)
        return render_template(
            "dashboard/manager.html", user=user, figures=figures,
            throughput_chart=charts.bar_chart([(day[5:], n) for day, n in figures["throughput"]],
                                              gettext("Accepted annotations per day")),
            agreement_chart=charts.line_chart([(f"{format_datetime(when, 'short')} {title}", value)
                                               for when, value, title in figures["agreement"]],
                                              gettext("Agreement of each QA run")),
            labels_chart=charts.bar_chart([(label[:8], n) for label, n in figures["labels"]],
                                          gettext("Items per final label"), color="#c64600"))
    if user.role == Role.ANNOTATOR:
        figures = service.annotator_home(db.session, user)
        return render_template("dashboard/annotator.html", user=user, figures=figures,
                               throughput_chart=charts.bar_chart([(d[5:], n) for d, n in figures["throughput"]],
                                                                 gettext("Your accepted annotations per day")))
    if user.role == Role.REVIEWER:
        return render_template("dashboard/reviewer.html", user=user, figures=service.reviewer_home(db.session))
    return render_template("dashboard/buyer.html", user=user, figures=service.buyer_home(db.session, user))
