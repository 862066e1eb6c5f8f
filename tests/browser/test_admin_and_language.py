"""The admin's journey in a real browser (create a user, change their role, deactivate them, read
system health), and switching the UI language from the header menu, kept on the account."""
from __future__ import annotations

from accounts.models import Role, User
from extensions import db
from tests.browser.conftest import sign_in


def test_admin_manages_users_and_reads_system_health(page, api_as):
    admin = api_as(Role.ADMIN)[0]
    sign_in(page, admin)
    page.get_by_role("link", name="用户与角色 / Users and roles").click()
    page.get_by_label("用户名 / Username").fill("new-annotator")
    page.get_by_label("电子邮箱 / Email").fill("new-annotator@example.test")
    page.get_by_label("显示名称 / Display name").fill("新标注员")
    page.get_by_label("角色 / Role", exact=True).select_option("annotator")
    page.get_by_label("密码 / Password").fill("a-long-enough-password")
    page.get_by_role("button", name="创建用户 / Create user").click()
    page.get_by_text("新标注员").wait_for()
    created = db.session.query(User).filter_by(username="new-annotator").one()
    page.get_by_label("角色 / Role: new-annotator").select_option("reviewer")
    page.locator(f"form[action$='/users/{created.id}/role'] button").click()
    page.wait_for_load_state()
    page.get_by_role("button", name="停用 / Deactivate: new-annotator").click()
    page.get_by_role("button", name="重新启用 / Reactivate: new-annotator").wait_for()
    db.session.expire_all()
    user = db.session.get(User, created.id)
    assert (user.role, user.is_active) == (Role.REVIEWER, False)
    page.get_by_role("link", name="系统状态 / System health").first.click()
    page.get_by_role("heading", name="后台工作进程 / Background workers").wait_for()
    assert page.get_by_role("heading", name="服务 / Services").is_visible()
    assert page.errors == []


def test_the_language_menu_switches_and_is_remembered(page, api_as):
    manager = api_as(Role.MANAGER)[0]
    sign_in(page, manager)
    page.get_by_label("语言 / Language").select_option("en")
    page.get_by_role("heading", name="Dashboard").wait_for()
    assert "工作台" not in page.locator("main").inner_text()
    page.get_by_role("link", name="Jobs").click()
    page.get_by_role("heading", name="Labeling jobs").wait_for()
    page.get_by_label("Language").select_option("zh_CN")
    page.get_by_role("heading", name="标注任务").wait_for()
    db.session.expire_all()
    assert db.session.get(User, manager.id).locale == "zh_CN"
    assert page.errors == []
