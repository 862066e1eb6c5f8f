"""PostgreSQL's fast path for a dataset's rows (binary COPY into Arrow on a second connection in the
same snapshot, shuffled outside the database) gives what the portable path gives there, row for
row, and the same files byte for byte, including the data PostgreSQL reads differently from
Python: non-string and missing fields, JSON null, \\u0000, escapes, data stored with spaces or a
key twice, labels such as "NA" or with quotes, percent signs and commas, no label at all. A
transaction that wrote rows (which a second connection cannot see) takes the portable path and
sees them."""
from __future__ import annotations

import json
import secrets

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from exports import build, rows, shuffle
from exports.build import VersionBuilder, file_digests, version_digest
from exports.service import _options
from extensions import make_engine, utcnow
from projects.media import MediaStore
from projects.models import Project
from qa.models import Consensus
from tasks.models import Task

pytestmark = pytest.mark.integration
LABELS = ["城市管理", "NA", "生态,环境", 'say "hi"', "100%"]
ODD_DATA = [{"text": "第一行\n第二行，带\"引号\"", "meta": {"b": 1, "a": [1.5, None]}},
            {"text": None}, {"other": "无 text"}, {"text": 12.0}, {"text": {"z": 1, "a": "中"}},
            {"text": "nul \u0000 inside"}, {"text": "tab\tand \\ slash", "text2": "x"},
            {"text": "emoji 😀 \u2028"}, {"text": ""}]
# Data as other writers may have stored it (json keeps the text as written): spaced, escaped, a key twice.
ODD_TEXTS = ['{"text": "spaced", "n": 1}', '{"text":"\\u6765\\u4fe1"}', '{"text":"first","x":"y","text":"last"}',
             '{"a":"1","a":"2","text":"once"}']


@pytest.fixture
def session(pg_url):
    engine = make_engine(pg_url)
    with Session(engine) as session:
        yield session
        session.rollback()
    engine.dispose()


@pytest.fixture
def project(session) -> Project:
    """A classification job of 150 agreed items (some without a label), its odd data among them,
    committed (the fast path reads on a second connection) and deleted afterwards."""
    project = add_project(session)
    session.commit()
    yield project
    session.rollback()
    session.execute(delete(Project).where(Project.id == project.id))  # its tasks and consensus go with it
    session.commit()


def add_project(session) -> Project:
    """The job of `project`, in the session's transaction, not committed."""
    from accounts.service import create_user
    from projects.bulk import insert_tasks, to_json
    from projects.intake import content_hash
    from projects.service import create_project

    name, now = f"pgfast{secrets.token_hex(4)}", utcnow()
    user = create_user(session, name, f"{name}@test.local", "a-long-password", "manager")
    project = create_project(session, user, {"title": f"{name} 导出", "template": {
        "type": "text_classification", "choices": LABELS}})
    data = [*ODD_DATA, *ODD_TEXTS] + [{"text": f"来信{number}"} for number in range(150 - len(ODD_DATA) - len(ODD_TEXTS))]
    texts = [values if isinstance(values, str) else to_json(values) for values in data]
    insert_tasks(session, [(project.id, None, None, text, content_hash(json.loads(text) | {"line": number}), False,
                            None, number, 3, 3, False, now) for number, text in enumerate(texts)])
    tasks = session.scalars(select(Task.id).where(Task.project_id == project.id).order_by(Task.id)).all()
    for number, task_id in enumerate(tasks):
        label = None if number % 17 == 0 else LABELS[number % len(LABELS)]
        session.add(Consensus(task_id=task_id, project_id=project.id, label=label, method="majority_vote",
                              result=[{"from_name": "label", "to_name": "text", "type": "choices",
                                       "value": {"choices": [label or LABELS[0]]}}],
                              confidence=round(0.5 + number % 7 / 14, 6), votes=3, status="agreed"))
    session.flush()
    return project


def builder(session, project, tmp_path, **overrides) -> VersionBuilder:
    options = {**_options({}, "classification"), "seed": 5, **overrides}
    return VersionBuilder(session, [project], options, "secret", MediaStore(tmp_path / "media"))


def portable(connection, query, seed, spill, fields=None):
    """The portable path, as SQLite takes it, on PostgreSQL."""
    return rows._fetched(connection, query.order_by(rows.shuffle_key(query.selected_columns.id, seed),
                                                    query.selected_columns.id))


@pytest.mark.parametrize("fields", [None, ("text",)])
def test_copied_rows_are_the_fetched_rows(session, project, tmp_path, monkeypatch, fields):
    monkeypatch.setattr(shuffle, "FANOUT_BITS", 2)  # several buckets, bucketed again
    monkeypatch.setattr(shuffle, "BUCKET_ROWS", 16)
    monkeypatch.setattr(rows, "CHUNK", 40)
    query = builder(session, project, tmp_path)._query()
    assert rows.read_tables(session.connection(), query, 5, tmp_path, fields) is not None  # the fast path
    copied = list(rows.read_rows(session.connection(), query, 5, tmp_path, fields))
    fetched = list(portable(session.connection(), query, 5, tmp_path))
    assert [len(chunk.ids) for chunk in copied] == [len(chunk.ids) for chunk in fetched] == [40, 40, 40, 30]
    for mine, theirs in zip(copied, fetched, strict=True):
        assert (mine.ids, mine.labels, mine.results, mine.confidences, mine.votes, mine.methods) == \
               (theirs.ids, theirs.labels, theirs.results, theirs.confidences, theirs.votes, theirs.methods)
        if fields:
            texts = [value if value is None or isinstance(value, str) else json.dumps(
                value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
                for value in (data.get("text") for data in theirs.data)]
            assert mine.fields.keys() == {"text"} and mine.fields["text"].to_pylist() == texts
        else:
            assert list(mine.data) == list(theirs.data)
    assert list(tmp_path.glob(".rows-*")) == []


@pytest.mark.parametrize("formats", [["parquet"], ["jsonl", "parquet", "csv"]])
def test_a_version_built_by_copy_has_the_bytes_of_the_portable_build(session, project, tmp_path, monkeypatch, formats):
    monkeypatch.setattr(shuffle, "FANOUT_BITS", 2)
    monkeypatch.setattr(shuffle, "BUCKET_ROWS", 16)
    digests = []
    for path in ("copy", "portable"):
        if path == "portable":
            monkeypatch.setattr(build, "read_rows", portable)
        version = builder(session, project, tmp_path, formats=formats, labels=LABELS[:4], min_confidence=0.6)
        (tmp_path / path).mkdir()
        version.write(tmp_path / path, "导出", "CC-BY-4.0", "")
        digests.append(version_digest(file_digests(tmp_path / path)))
    assert version.stats.items > 50
    assert digests[0] == digests[1]


def test_a_transaction_that_wrote_reads_its_own_rows(session, tmp_path):
    project = add_project(session)  # not committed: no other connection sees these rows
    query = builder(session, project, tmp_path)._query()
    assert rows.read_tables(session.connection(), query, 5, tmp_path) is None
    read = list(rows.read_rows(session.connection(), query, 5, tmp_path))
    assert sum(len(chunk.ids) for chunk in read) == 150
