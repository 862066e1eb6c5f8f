"""Labeling jobs: definition, edits, lifecycle, guideline versions, batches, resumable imports."""
from __future__ import annotations


import pytest
from sqlalchemy import func, select

from accounts.models import Role
from demo.samples import questions_csv
from extensions import db
from projects import imports
from projects.models import Batch, GuidelineVersion, Upload
from tasks.models import Annotation, Task
from tests.unit.test_workflow import CHOICES, choice, new_project, published_project, upload


@pytest.fixture
def manager(api_as):
    return api_as(Role.MANAGER)[1]


def test_job_settings_are_checked_field_by_field(manager):
    project = new_project(manager, deadline="2026-12-31", piece_rate="0.35", required_skills=["政务", "政务"],
                          batch_size=50, gold_share=0.1)
    assert project["deadline"].startswith("2026-12-31") and project["piece_rate"] == "0.35"
    assert project["required_skills"] == ["政务"] and project["batch_size"] == 50
    for field, value, says in [("deadline", "next week", "deadline"), ("piece_rate", "free", "piece_rate"),
                               ("gold_share", 0.9, "gold_share"), ("batch_size", 0, "batch_size"),
                               ("required_skills", "政务", "required_skills"), ("title", "x", "title")]:
        reply = manager.patch(f"/api/projects/{project['id']}", json={field: value})
        assert reply.status_code == 422 and reply.json["message"].startswith(says), (field, reply.json)


def test_lifecycle_allows_only_legal_moves(manager, fake_ls):
    draft = new_project(manager)
    early = manager.post(f"/api/projects/{draft['id']}/status", json={"status": "active"})
    assert early.status_code == 409 and "publish the job first" in early.json["message"]
    project = published_project(manager, items=2)
    assert project["status"] == "active"
    paused = manager.post(f"/api/projects/{project['id']}/status", json={"status": "paused"})
    assert paused.json["status"] == "paused"
    illegal = manager.post(f"/api/projects/{project['id']}/status", json={"status": "draft"})
    assert illegal.status_code == 409 and "allowed: active, completed" in illegal.json["message"]
    for status in ("completed", "archived"):
        assert manager.post(f"/api/projects/{project['id']}/status", json={"status": status}).status_code == 200
    frozen = manager.patch(f"/api/projects/{project['id']}", json={"title": "新标题"})
    assert frozen.status_code == 409 and "archived" in frozen.json["message"]


def test_label_config_is_frozen_once_published(manager, fake_ls):
    project = published_project(manager, items=1)
    reply = manager.patch(f"/api/projects/{project['id']}", json={"template": {
        "type": "text_classification", "choices": ["甲", "乙"]}})
    assert reply.status_code == 409 and "label_config" in reply.json["message"] or "template" in reply.json["message"]
    assert manager.patch(f"/api/projects/{project['id']}", json={"overlap": 4}).json["overlap"] == 4


def test_guidelines_are_versioned_and_annotations_record_theirs(api_as, manager, fake_ls):
    project = published_project(manager, items=2)
    _, annotator = api_as(Role.ANNOTATOR)
    first = annotator.get("/api/tasks/next").json["task"]
    annotator.post(f"/api/tasks/{first['id']}/annotations", json={"result": choice(CHOICES[0])})
    edited = manager.patch(f"/api/projects/{project['id']}", json={"guidelines": "## 新规则\n按属地分拨。"})
    assert edited.json["guidelines_version"] == 2 and edited.json["guidelines"].startswith("## 新规则")
    same = manager.patch(f"/api/projects/{project['id']}", json={"guidelines": "## 新规则\n按属地分拨。"})
    assert same.json["guidelines_version"] == 2
    second = annotator.get("/api/tasks/next").json["task"]
    annotator.post(f"/api/tasks/{second['id']}/annotations", json={"result": choice(CHOICES[1])})
    versions = dict(db.session.execute(select(Annotation.task_id, Annotation.guidelines_version)).all())
    assert versions == {first["id"]: 1, second["id"]: 2}
    assert db.session.scalar(select(func.count()).select_from(GuidelineVersion)
                             .where(GuidelineVersion.project_id == project["id"])) == 2


def test_items_are_cut_into_batches_by_size_and_group(manager):
    project = new_project(manager, batch_size=2, batch_group_field="region")
    rows = "text,region\n" + "".join(f"问题{i},{'南明区' if i % 3 else '花溪区'}\n" for i in range(7))
    assert upload(manager, project["id"], rows.encode())["created"] == 7
    batches = manager.get(f"/api/projects/{project['id']}/batches").json["batches"]
    by_group = {}
    for batch in batches:
        by_group.setdefault(batch["group"], []).append(batch["items"])
    assert by_group == {"花溪区": [2, 1], "南明区": [2, 2]}
    assert all(b["needed"] == b["items"] * 3 for b in batches)
    upload(manager, project["id"], "text,region\n新问题,花溪区\n".encode())  # fills the open batch
    again = manager.get(f"/api/projects/{project['id']}/batches").json["batches"]
    assert len(again) == 4 and sorted(b["items"] for b in again) == [2, 2, 2, 2]


def test_gold_tasks_keep_their_answer_away_from_annotators(api_as, manager, fake_ls):
    project = new_project(manager)
    report = upload(manager, project["id"], "text,answer\n金标准问题,教育\n普通问题,\n".encode(), gold_field="answer")
    assert report["created"] == 2
    gold = db.session.scalar(select(Task).where(Task.is_gold.is_(True)))
    assert gold.gold_answer == "教育" and "answer" not in gold.data and gold.batch_id is None
    info = manager.get(f"/api/projects/{project['id']}").json
    assert info["gold_tasks"] == 1 and info["tasks"] == 1


def test_batches_fill_in_file_order_across_chunks(manager, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK", dict.fromkeys(imports.CHUNK, 3))  # groups and duplicates straddle the chunks
    project = new_project(manager, batch_size=2, batch_group_field="region")
    regions = ["南明区", "花溪区", "南明区", "南明区", "云岩区", "花溪区", "南明区", "花溪区"]
    rows = [(f"问题{i}", region) for i, region in enumerate(regions)]
    rows += rows[1:3]  # lines 10 and 11 repeat lines 3 and 4
    report = upload(manager, project["id"], ("text,region\n" + "".join(f"{t},{r}\n" for t, r in rows)).encode())
    assert (report["created"], report["duplicates"]) == (8, 2)
    expected, open_batch = {}, {}  # line -> (region, index of its batch among the region's)
    for line, (text, region) in enumerate(rows[:8], start=2):
        index, size = open_batch.get(region, (0, 0))
        index, size = (index + 1, 1) if size in (0, 2) else (index, size + 1)
        open_batch[region], expected[line] = (index, size), (region, index)
    tasks = db.session.execute(select(Task.source_line, Batch.group_value, Batch.number)
                               .join(Batch, Task.batch_id == Batch.id).order_by(Task.id)).all()
    assert [line for line, _, _ in tasks] == list(range(2, 10))  # task ids follow the file
    numbers = {}
    for line, region, number in tasks:
        numbers.setdefault((region, expected[line][1]), number)
        assert region == expected[line][0] and numbers[region, expected[line][1]] == number
    assert len(set(numbers.values())) == len(numbers) == 5  # 南明区 2 + 2, 花溪区 2 + 1, 云岩区 1


@pytest.mark.parametrize("parser", ["inline", "thread", "process"])
def test_import_resumes_after_a_crash_without_duplicates(app, manager, monkeypatch, parser):
    project = new_project(manager, batch_size=3)
    monkeypatch.setattr(imports, "CHUNK", dict.fromkeys(imports.CHUNK, 4))
    # the file parsed in this thread, in a thread (as for PostgreSQL), or in a process (as a large one)
    monkeypatch.setattr(imports, "READ_AHEAD_DIALECTS", frozenset({"sqlite"} if parser == "thread" else ()))
    monkeypatch.setattr(imports, "PARSE_APART_BYTES", 0 if parser == "process" else 1 << 40)
    calls = {"n": 0}
    real = imports._commit_chunk

    def crash_on_third(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(imports, "_commit_chunk", crash_on_third)
    first = upload(manager, project["id"], questions_csv(14))
    assert manager.get(f"/api/jobs/{first['job_id']}").json["status"] == "failed"
    record = db.session.scalar(select(Upload))
    assert record.phase.value == "importing" and record.rows_committed == 8 and record.created == 8
    report = imports.import_upload(record.id)  # what RQ does when the job is retried
    assert report["created"] == 14 and report["duplicates"] == 0 and report["phase"] == "done"
    assert db.session.scalar(select(func.count()).select_from(Task)) == 14
    assert sorted(db.session.scalars(select(Batch.size))) == [2, 3, 3, 3, 3]


def test_cli_import_shows_the_outcome(app, manager, tmp_path):
    project = new_project(manager)
    good = tmp_path / "市民来信.csv"
    good.write_bytes(questions_csv(6))
    result = app.test_cli_runner().invoke(args=["projects", "import", str(project["id"]), str(good)])
    assert result.exit_code == 0, result.output
    assert "done: 6 created, 0 duplicates, 0 bad rows" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_bytes("text,x\n好的,1\n坏的,1,2\n".encode())
    failed = app.test_cli_runner().invoke(args=["projects", "import", str(project["id"]), str(bad)])
    assert failed.exit_code != 0 and "bad.csv, line 3" in failed.output


def _png(color: tuple[int, int, int]) -> bytes:
    import io as _io

    from PIL import Image

    buffer = _io.BytesIO()
    with Image.new("RGB", (8, 8), color) as image:
        image.save(buffer, "PNG")
    return buffer.getvalue()


IMAGE_CONFIG = ('<View><Image name="img" value="$image"/><Choices name="c" toName="img">'
                '<Choice value="缺陷"/><Choice value="正常"/></Choices></View>')


def _zip(members: dict[str, bytes]) -> bytes:
    import io as _io
    import zipfile

    archive = _io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return archive.getvalue()


def test_zip_of_images_becomes_tasks_served_from_media(api_as, manager):
    project = new_project(manager, template=None, label_config=IMAGE_CONFIG)
    archive = _zip({"巡检/塔001.png": _png((200, 0, 0)), "巡检/塔002.png": _png((0, 200, 0)),
                    "巡检/重复.png": _png((200, 0, 0)), "../逃逸.png": _png((0, 0, 200))})
    report = upload(manager, project["id"], archive, "inspection.zip", skip_bad_rows="true")
    assert report["created"] == 2 and report["duplicates"] == 1 and report["error_count"] == 1
    task = db.session.scalar(select(Task).order_by(Task.id))
    assert task.data["image"].startswith("/media/") and task.data["file"] == "巡检/塔001.png"
    served = manager.get(task.data["image"])
    assert served.status_code == 200 and served.data.startswith(b"\x89PNG")
    served.close()
    assert manager.get("/media/..%2Fsecrets.env").status_code == 404
    assert manager.client.get(task.data["image"]).status_code in (302, 401)  # not for anonymous users


def test_stored_images_open_only_to_those_who_may_see_their_job(api_as, manager, fake_ls):
    """A stored image's name (its sha256) opens nothing by itself: other managers, buyers and
    annotators of a job not open to them get 404; the job's manager, reviewers, admins and, once
    it is published, annotators get it. Naming the image in another job's data opens nothing."""
    from extensions import utcnow
    from tasks.models import Assignment, AssignmentStatus

    project = new_project(manager, template=None, label_config=IMAGE_CONFIG)
    assert upload(manager, project["id"], _zip({"巡检/塔101.png": _png((10, 20, 30))}), "inspection.zip")["created"] == 1
    picture = db.session.scalar(select(Task.data).where(Task.project_id == project["id"]))["image"]
    (_, other_manager), (_, buyer), (_, reviewer), (_, admin) = (
        api_as(Role.MANAGER), api_as(Role.BUYER), api_as(Role.REVIEWER), api_as(Role.ADMIN))
    annotator_user, annotator = api_as(Role.ANNOTATOR)

    def status(who) -> int:
        reply = who.get(picture)
        reply.close()
        return reply.status_code

    assert [status(who) for who in (manager, reviewer, admin)] == [200, 200, 200]
    kept = manager.get(picture)
    kept.close()
    assert kept.headers["Cache-Control"] == "max-age=31536000, private"  # no shared cache keeps it
    assert [status(who) for who in (other_manager, buyer, annotator)] == [404, 404, 404]  # a draft job
    copied = new_project(other_manager, template=None, label_config=IMAGE_CONFIG)
    assert upload(other_manager, copied["id"], f'[{{"image": "{picture}"}}]'.encode(), "copy.json")["created"] == 1
    assert status(other_manager) == 404  # naming it in their own job's data does not open it
    published = manager.post(f"/api/projects/{project['id']}/publish")
    assert manager.get(published.json["status_url"]).json["status"] == "finished"
    assert status(annotator) == 200  # the job is open to work
    assert status(buyer) == 404
    task_id = db.session.scalar(select(Task.id).where(Task.project_id == project["id"]))
    db.session.add(Assignment(task_id=task_id, annotator_id=annotator_user.id, project_id=project["id"],
                              status=AssignmentStatus.SUBMITTED, expires_at=utcnow()))
    db.session.commit()
    for step in ("completed", "archived"):
        assert manager.post(f"/api/projects/{project['id']}/status", json={"status": step}).status_code == 200
    assert status(annotator) == 200  # they worked in it
    assert status(api_as(Role.ANNOTATOR)[1]) == 404  # a newcomer did not, and the job is closed
    sample = manager.get("/api/projects/templates").json["templates"]
    bbox = next(t for t in sample if t["key"] == "bbox")["samples"][0]["image"]
    picture = bbox
    assert status(buyer) == 200  # template samples are shown to all


def test_zip_cannot_feed_a_text_config(manager):
    project = new_project(manager)  # needs $text
    report = upload(manager, project["id"], _zip({"a.png": _png((1, 2, 3))}), "pics.zip")
    assert report["phase"] == "rejected" and "field(s) text" in report["errors"][0]


def test_template_catalog_and_preview(manager):
    catalog = manager.get("/api/projects/templates").json["templates"]
    keys = {t["key"] for t in catalog}
    assert {"text_classification", "ner", "bbox", "pairwise", "free_text"} <= keys
    bbox = next(t for t in catalog if t["key"] == "bbox")
    picture = bbox["samples"][0]["image"]
    assert picture.startswith("/media/")
    served = manager.get(picture)
    assert served.status_code == 200 and served.data.startswith(b"\x89PNG")
    served.close()
    ok = manager.post("/api/projects/preview", json={"template": {"type": "bbox"}, "item": bbox["samples"][0]})
    assert ok.status_code == 200 and ok.json["task_type"] == "bbox"
    wrong = manager.post("/api/projects/preview", json={"template": {"type": "ner"}, "item": {"body": "x"}})
    assert wrong.status_code == 422 and "no field 'text'" in wrong.json["message"]
