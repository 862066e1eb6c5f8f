"""The manager's job pages in a real browser: the wizard's live editor preview, creating a job,
uploading data with its progress and report, publishing, batch progress and the lifecycle."""
from __future__ import annotations

import re

from accounts.models import Role
from demo import images
from demo.samples import DEPARTMENTS, questions_csv
from projects import service
from projects.templates import JUDGMENT_SNIPPETS, TEMPLATES

NER_LABELS = list(TEMPLATES["ner"].default_options["labels"])
IMAGE_LOADED = """() => {
  const img = document.querySelector('#ls-preview img[src*="/media/"]');
  return img !== null && img.complete && img.naturalWidth > 0;
}"""


def labels_shown(page) -> list[str]:
    return [t.strip() for t in page.locator("#ls-preview .lsf-label__text").all_inner_texts()]


def test_wizard_previews_each_template_in_the_editor(manager_page):
    page = manager_page
    page.goto("/projects/new")
    preview = page.locator("#ls-preview")

    page.get_by_label("命名实体 / 片段标注 Named entities & spans").check()
    preview.locator(".lsf-richtext__container", has_text=JUDGMENT_SNIPPETS[0]).wait_for()
    assert labels_shown(page) == NER_LABELS
    assert not preview.get_by_role("button", name="submit").is_visible()  # a preview saves nothing

    # Editing an option re-renders the editor with it.
    page.get_by_label("标签（每行一个） / Labels, one per line").fill("\n".join([*NER_LABELS[:2], "退赃退赔"]))
    page.wait_for_function("() => [...document.querySelectorAll('#ls-preview .lsf-label__text')]"
                           ".some(el => el.textContent.includes('退赃退赔'))")
    assert labels_shown(page) == [*NER_LABELS[:2], "退赃退赔"]

    page.get_by_label("图像目标框 Image bounding boxes").check()
    page.wait_for_function(IMAGE_LOADED)
    assert labels_shown(page) == list(images.DEFECTS)

    # Raw XML starts from the last template's config; a broken config is shown next to it.
    page.get_by_label("自定义 XML / Paste Label Studio XML").check()
    xml = page.get_by_label("标注配置 XML / Label config XML")
    assert 'RectangleLabels name="label" toName="image"' in xml.input_value()
    xml.fill('<View>\n  <Image name="image" value="$image"/>\n  <Choices name="c" toName="image">\n</View>')
    error = page.locator("#error-label_config")
    error.filter(has_text="malformed XML").wait_for()
    assert error.inner_text().startswith("label_config")
    assert "stale" in preview.get_attribute("class")

    xml.fill('<View><Image name="image" value="$image"/><Choices name="c" toName="image">'
             '<Choice value="合格"/><Choice value="不合格"/></Choices></View>')
    preview.get_by_text("不合格").wait_for()
    assert error.inner_text() == "" and "stale" not in preview.get_attribute("class")
    page.wait_for_function(IMAGE_LOADED)
    assert page.errors == []


def test_manager_creates_a_job_uploads_data_and_publishes(manager_page, api_as, tmp_path):
    page = manager_page
    page.goto("/projects/new")
    page.locator("#ls-preview[data-ready]").wait_for()
    assert page.locator("#ls-preview .lsf-richtext__container").first.is_visible()

    # The API's field errors land next to their field.
    page.get_by_label("任务名称 / Title").fill("x")
    page.get_by_role("button", name="创建任务 / Create job").click()
    page.locator("#error-title").filter(has_text="title:").wait_for()
    assert page.get_by_label("任务名称 / Title").get_attribute("aria-invalid") == "true"

    page.get_by_label("任务名称 / Title").fill("市民来信分拨（浏览器）")
    page.get_by_label("标注规范 / Guidelines (Markdown)").fill("## 规则\n<script>window.hacked = 1</script>按**属地**分拨")
    page.get_by_label("每条标注人数 / Overlap (k)").fill("2")
    page.get_by_label("批次大小 / Batch size").fill("3")
    page.get_by_role("button", name="创建任务 / Create job").click()
    page.wait_for_url(re.compile(r"/projects/\d+$"))

    assert page.locator("#job-status").inner_text() == "草稿 / Draft"
    guidelines = page.locator(".guidelines")
    assert guidelines.locator("strong").inner_text() == "属地"
    assert "<script>window.hacked = 1</script>" in guidelines.inner_text()
    assert page.evaluate("window.hacked") is None

    # Upload: seven Chinese questions and one bad row, skipping bad rows.
    data = tmp_path / "questions.csv"
    data.write_bytes(questions_csv(7) + "坏行,网站,多余\n".encode())
    page.get_by_label("数据文件 / Data file").set_input_files(str(data))
    page.get_by_label("跳过有错误的行 / Skip bad rows").check()
    page.get_by_role("button", name="上传 / Upload").click()
    report = page.locator("#upload-report")
    report.get_by_text("新增：7 / Created: 7").wait_for()
    assert report.get_by_text("错误行：1 / Bad rows: 1").is_visible()
    assert report.locator(".report-errors li").first.inner_text().startswith("questions.csv, line 9")
    assert page.locator("#upload-progress-text").inner_text() == "完成 / Done"
    assert page.evaluate("[document.querySelector('#upload-progress').value, "
                         "document.querySelector('#upload-progress').max]") == [1, 1]
    batch_rows = page.locator("#batches tbody tr")
    batch_rows.nth(2).wait_for()
    assert batch_rows.locator(".progress-text").all_inner_texts() == ["0 / 6", "0 / 6", "0 / 2"]

    page.get_by_role("button", name="发布 / Publish").click()
    page.get_by_text("已发布到 Label Studio / Published to Label Studio").wait_for()
    assert page.locator("#publish-progress-text").inner_text() == "完成 / Done"
    page.locator("#job-status", has_text="进行中 / Active").wait_for()
    assert page.locator("#lifecycle button").all_inner_texts() == ["暂停 / Pause", "完成 / Complete"]

    # An annotator labels one item: the batch and the job show it.
    _, annotator = api_as(Role.ANNOTATOR)
    task = annotator.get("/api/tasks/next").json["task"]
    result = [{"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [next(iter(DEPARTMENTS))]}}]
    assert annotator.post(f"/api/tasks/{task['id']}/annotations", json={"result": result}).status_code == 201
    page.reload()
    page.locator("#batches .progress-text", has_text="1 / 6").wait_for()
    assert page.locator("#job-progress-text").inner_text() == "1 / 14"

    page.get_by_role("button", name="暂停 / Pause").click()
    page.locator("#job-status", has_text="已暂停 / Paused").wait_for()

    page.get_by_role("link", name="标注任务 / Jobs").first.click()
    row = page.locator("table.jobs tbody tr", has_text="市民来信分拨（浏览器）")
    assert row.locator(".progress-text").inner_text() == "1 / 14"
    assert row.get_by_text("已暂停 / Paused").is_visible()
    assert page.errors == []


def test_manager_edits_settings_and_sees_field_errors(manager_page, manager, session):
    job = service.create_project(session, manager, {"title": "判决书量刑情节", "template": {"type": "ner"},
                                                    "guidelines": "第一版"})
    session.commit()
    page = manager_page
    page.goto(f"/projects/{job.id}")
    page.get_by_role("link", name="编辑设置 / Edit settings").click()
    page.get_by_label("金标比例 / Gold share").fill("0.9")
    page.get_by_role("button", name="保存 / Save").click()
    page.locator("#error-gold_share").filter(has_text="gold_share:").wait_for()

    page.get_by_label("金标比例 / Gold share").fill("0.1")
    page.get_by_label("每条标注人数 / Overlap (k)").fill("5")
    page.get_by_label("标注规范 / Guidelines (Markdown)").fill("第二版：**只标**量刑情节")
    page.get_by_role("button", name="保存 / Save").click()
    page.wait_for_url(re.compile(rf"/projects/{job.id}$"))
    settings = dict(zip(page.locator("dl.settings dt").all_inner_texts(), page.locator("dl.settings dd").all_inner_texts()))
    assert settings["每条标注人数 / Overlap"] == "5" and settings["金标比例 / Gold share"] == "0.1"
    assert page.locator("#h-guidelines").inner_text().endswith("v2")
    assert page.locator(".guidelines strong").inner_text() == "只标"
    assert page.errors == []
