"""Imports insert each chunk on the bet that the job holds none of its content, and fall back to
probing when the unique index says otherwise: whatever the file and the chunking, the outcome
is that of checking every row against everything before it."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from accounts.models import Role
from extensions import db
from projects import bulk, imports
from projects.models import Batch
from tasks.models import Task
from tests.unit.test_workflow import new_project, upload


@pytest.fixture
def manager(api_as):
    return api_as(Role.MANAGER)[1]


def _csv(texts: list[str]) -> bytes:
    return ("text\n" + "".join(f"{text}\n" for text in texts)).encode()


@settings(max_examples=25, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.lists(st.sampled_from([f"问题{i}" for i in range(12)]), max_size=14),
                      min_size=1, max_size=3),
       chunk=st.integers(1, 5), batch_size=st.integers(1, 4))
def test_imports_find_every_duplicate_whatever_the_chunks(manager, monkeypatch, files, chunk, batch_size):
    monkeypatch.setattr(imports, "CHUNK", dict.fromkeys(imports.CHUNK, chunk))
    project = new_project(manager, batch_size=batch_size)["id"]
    held: set[str] = set()
    for texts in files:
        report = upload(manager, project, _csv(texts))
        expected_new = [line for line, text in enumerate(texts, start=2)
                        if text not in held and text not in texts[:line - 2]]
        repeats = sorted(set(range(2, len(texts) + 2)) - set(expected_new))
        assert report["phase"] == "done" if texts else report["phase"] in ("done", "rejected")
        assert (report["created"], report["duplicates"]) == (len(expected_new), len(repeats))
        assert report["duplicate_rows"] == [f"questions.csv, line {n}: already in this job" for n in repeats]
        held.update(texts)
    lines = db.session.execute(select(Task.data["text"].as_string()).where(Task.project_id == project)
                               .order_by(Task.id)).scalars().all()
    assert sorted(lines) == sorted(held) and len(lines) == len(set(lines))
    sizes = dict(db.session.execute(select(Batch.id, Batch.size).where(Batch.project_id == project)).all())
    counts = dict(db.session.execute(select(Task.batch_id, func.count()).where(Task.project_id == project)
                                     .group_by(Task.batch_id)).all())
    assert sizes == counts and all(size <= batch_size for size in sizes.values())


def test_a_file_of_new_content_is_never_probed_and_known_content_is(manager, monkeypatch):
    monkeypatch.setattr(imports, "CHUNK", dict.fromkeys(imports.CHUNK, 3))
    probes: list[int] = []
    real = bulk.known_hashes
    monkeypatch.setattr(imports, "known_hashes", lambda s, p, hashes: probes.append(len(hashes)) or real(s, p, hashes))
    project = new_project(manager)["id"]
    assert upload(manager, project, _csv([f"新问题{i}" for i in range(10)]))["created"] == 10
    assert probes == []
    # chunk 1 meets known content (rolled back, then probed); chunk 2 probes first and finds some;
    # chunk 3 probes first and finds none, so chunk 4 goes back to inserting straight away
    texts = ["新问题0", "甲", "乙", "丙", "新问题1", "丁", "戊", "己", "庚", "辛", "壬"]
    report = upload(manager, project, _csv(texts))
    assert (report["created"], report["duplicates"]) == (9, 2)
    assert probes == [3, 3, 3]
