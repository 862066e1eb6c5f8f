"""An import into PostgreSQL (binary COPY built by projects.bulk, the read-ahead thread, the
statement-level job check) stores exactly what the same import stores into SQLite (executemany),
finds duplicates within and across imports, and stores nothing of a file with a bad row."""
from __future__ import annotations

import io
import secrets

import fakeredis
import pytest
from sqlalchemy import func, select

from accounts.service import create_user
from app import create_app
from extensions import db
from projects import imports
from projects.models import Batch
from projects.service import create_project
from schema import upgrade
from tasks.models import Task

pytestmark = pytest.mark.integration
CONFIG = ('<View><Text name="text" value="$问题"/><Choices name="label" toName="text">'
          '<Choice value="城市管理局"/><Choice value="交通运输局"/></Choices></View>')
FIRST = ('编号,问题,答案\n1,路灯坏了,城市管理局\n2,"噪音扰民\r\n补充：夜间施工",\n1,路灯坏了,城市管理局\n'
         '4,"引号""与,逗号",交通运输局\n5,井盖缺失 😀,\n6,油烟直排,\n7,\\u0000 不是转义,\n')
SECOND = '编号,问题,答案\n1,路灯坏了,城市管理局\n8,新的问题,\n4,"引号""与,逗号",交通运输局\n9,又一个,\n'
BAD = '编号,问题,答案\n10,好的一行,\n11,,\n12,另一行,\n'


def _import_all(url: str, data_dir, monkeypatch) -> tuple[list[dict], list[tuple]]:
    """Import FIRST, SECOND and BAD into a new job on `url` (4 rows a chunk, batches of 3);
    the reports, and the job's tasks as (data, gold answer, is gold, line, batch number)."""
    monkeypatch.setattr(imports, "CHUNK", dict.fromkeys(imports.CHUNK, 4))
    app = create_app({"SECRET_KEY": "test", "DATABASE_URL": url, "QUEUE_ASYNC": False, "DATA_DIR": data_dir,
                      "LABEL_STUDIO_URL": "http://127.0.0.1:9", "LABEL_STUDIO_TOKEN": "unused"})
    app.extensions["qianling.redis"] = fakeredis.FakeRedis()
    context = app.app_context()
    context.push()
    try:
        name = f"imp{secrets.token_hex(4)}"
        user = create_user(db.session, name, f"{name}@test.local", "a-long-password", "manager")
        project = create_project(db.session, user, {"title": name, "label_config": CONFIG, "batch_size": 3})
        db.session.commit()
        reports = []
        for number, text in enumerate([FIRST, SECOND, BAD]):
            upload, _job = imports.receive(db.session, user, project, io.BytesIO(text.encode()),
                                           f"letters{number}.csv", gold_field="答案")
            db.session.refresh(upload)
            reports.append(upload.report())
        tasks = db.session.execute(
            select(Task.data, Task.gold_answer, Task.is_gold, Task.source_line, Batch.number,
                   Task.slots_taken, Task.is_open, Task.created_at.is_not(None))
            .outerjoin(Batch, Batch.id == Task.batch_id).where(Task.project_id == project.id)
            .order_by(Task.id)).all()
        assert db.session.scalar(select(func.count()).select_from(Batch).where(
            Batch.project_id == project.id, Batch.size == 0)) == 0
        return reports, [tuple(row) for row in tasks]
    finally:
        context.pop()  # closes the context's session
        app.extensions["qianling.db"].engine.dispose()


def test_postgresql_stores_what_sqlite_stores(pg_url, tmp_path, monkeypatch):
    sqlite_url = f"sqlite:///{tmp_path / 'same.db'}"
    upgrade(sqlite_url)
    pg_reports, pg_tasks = _import_all(pg_url, tmp_path / "pg", monkeypatch)
    sqlite_reports, sqlite_tasks = _import_all(sqlite_url, tmp_path / "sqlite", monkeypatch)

    first, second, bad = pg_reports
    assert (first["phase"], first["created"], first["duplicates"]) == ("done", 6, 1)
    assert (second["phase"], second["created"], second["duplicates"]) == ("done", 2, 2)
    assert bad["phase"] == "rejected" and bad["created"] == 0
    assert any("line 3" in error and "问题" in error for error in bad["errors"])
    assert len(pg_tasks) == 8
    assert pg_tasks[1][0] == {"编号": "2", "问题": "噪音扰民\n补充：夜间施工"}
    assert [(gold, answer) for _, answer, gold, *_ in pg_tasks[:3]] == [
        (True, "城市管理局"), (False, None), (True, "交通运输局")]
    strip = [{key: value for key, value in report.items() if key not in ("id", "job_id", "filename")}
             for report in pg_reports]
    assert strip == [{key: value for key, value in report.items() if key not in ("id", "job_id", "filename")}
                     for report in sqlite_reports]
    assert pg_tasks == sqlite_tasks
