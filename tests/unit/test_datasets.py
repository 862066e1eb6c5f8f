"""Dataset versions end to end on SQLite: build from QA'd items, splits, content addresses,
rebuilds byte for byte, diffs, the card, the catalog, access requests and signed download links."""
from __future__ import annotations

import io
import json
from collections import Counter

import pyarrow.parquet as pq
import pytest

from accounts.models import Role
from exports.models import Download
from extensions import db
from tests.unit.test_qa_workflow import job, label_all
from tests.unit.test_workflow import CHOICES


@pytest.fixture
def manager(api_as):
    return api_as(Role.MANAGER)[1]


@pytest.fixture
def labeled(api_as, manager, fake_ls):
    """A job of 40 items, each labeled by 3 annotators: 30 agree fully, 10 split 2-1 at random."""
    texts = [f"来信第{i}号：路灯不亮" for i in range(40)]
    project = job(manager, texts, overlap=3, batch_size=20)
    truth = {t: CHOICES[i % 3] for i, t in enumerate(texts)}
    odd = {t: (CHOICES[4] if i >= 30 else truth[t]) for i, t in enumerate(texts)}
    for answers in (truth, truth, odd):
        label_all(api_as(Role.ANNOTATOR)[1], answers)
    return project, truth


def build(manager, project, **options) -> dict:
    reply = manager.post("/api/exports", json={"project_ids": [project["id"]], **options})
    assert reply.status_code == 202, reply.json
    assert manager.get(reply.json["status_url"]).json["status"] == "finished"
    return manager.get(f"/api/exports/{reply.json['dataset']['id']}").json


def read(client, dataset: dict, path: str) -> bytes:
    (file,) = [f for f in dataset["files"] if f["path"] == path]
    link = client.post(file["link_url"]).json
    with client.get(link["url"]) as reply:
        assert reply.status_code == 200
        return reply.get_data()


def test_a_version_holds_the_agreed_items_split_by_label_and_rebuilds_byte_for_byte(manager, labeled):
    project, truth = labeled
    first = build(manager, project, formats=["jsonl", "parquet", "csv"], seed=7)
    assert first["status"] == "ready" and first["items"] == 40 and first["version"] == 1
    rows = [json.loads(line) for path in ("jsonl/train.jsonl", "jsonl/validation.jsonl", "jsonl/test.jsonl")
            for line in read(manager, first, path).decode().splitlines()]
    assert sorted(r["data"]["text"] for r in rows) == sorted(truth)
    assert all(r["label"] == truth[r["data"]["text"]] for r in rows)
    # Stratified: within every label, each split holds its share of that label's items, +-1.
    per_label = Counter((r["label"], split) for split in ("train", "validation", "test")
                        for r in map(json.loads, read(manager, first, f"jsonl/{split}.jsonl").decode().splitlines()))
    sizes = Counter(truth.values())
    for (label, split), count in per_label.items():
        assert abs(count - {"train": 0.8, "validation": 0.1, "test": 0.1}[split] * sizes[label]) < 1
    assert len(per_label) == 9 and sum(first["card"]["splits"].values()) == 40
    table = pq.read_table(io.BytesIO(read(manager, first, "parquet/train.parquet")))
    assert table.num_rows == first["card"]["splits"]["train"]
    again = build(manager, project, formats=["jsonl", "parquet", "csv"], seed=7)
    assert {f["path"]: f["sha256"] for f in again["files"]} == {f["path"]: f["sha256"] for f in first["files"]}
    assert again["version"] == 2 and again["sha256"] == first["sha256"]
    other_seed = build(manager, project, formats=["jsonl"], seed=8)
    assert other_seed["sha256"] != first["sha256"]


def test_a_version_has_the_formats_asked_for_and_previews_from_parquet_without_jsonl(manager, labeled):
    project, truth = labeled
    both = build(manager, project, formats=["jsonl", "parquet"], seed=7)
    parquet_only = build(manager, project, formats=["parquet"], seed=7)
    folders = {f["path"].split("/")[0] for f in parquet_only["files"] if "/" in f["path"]}
    assert folders == {"parquet"} and "jsonl" in {f["path"].split("/")[0] for f in both["files"]}
    # The same items in the same order and splits, whichever formats come with them.
    assert {f["path"]: f["sha256"] for f in parquet_only["files"] if f["path"].startswith("parquet/")} == \
        {f["path"]: f["sha256"] for f in both["files"] if f["path"].startswith("parquet/")}
    from_jsonl = manager.get(f"/api/exports/{both['id']}/preview").json["items"]
    from_parquet = manager.get(f"/api/exports/{parquet_only['id']}/preview").json["items"]
    assert from_parquet == from_jsonl and len(from_parquet) > 0
    assert all(item["label"] == truth[item["data"]["text"]] for item in from_parquet)


def test_filters_annotations_and_the_card(manager, labeled):
    project, truth = labeled
    strict = build(manager, project, min_confidence=0.9, labels=[CHOICES[0], CHOICES[1]], include_annotations=True,
                   license="CC BY-NC 4.0", description="市民来信分拨数据")
    # Only the unanimous items of the two chosen labels: i < 30 with i % 3 in (0, 1) -> 20 items.
    assert strict["items"] == 20
    rows = [json.loads(line) for line in read(manager, strict, "jsonl/train.jsonl").decode().splitlines()]
    assert all(r["confidence"] == 1.0 and r["label"] in CHOICES[:2] for r in rows)
    assert all(len(r["annotations"]) == 3 and all(a["annotator"].startswith("a-") for a in r["annotations"])
               for r in rows)  # pseudonyms, never usernames
    card = strict["card"]
    assert card["label_distribution"] == {CHOICES[0]: 10, CHOICES[1]: 10}
    assert card["annotators"] == 3 and card["license"] == "CC BY-NC 4.0"
    assert card["agreement"]["percent_agreement"] == pytest.approx((30 * 1 + 10 * (1 / 3)) / 40)
    assert card["overlap"]["used"] == {"3": 20} and sum(card["confidence_histogram"]["counts"]) == 20
    assert card["provenance"]["jobs"][0]["id"] == project["id"] and card["provenance"]["batches"] == 2
    readme = read(manager, strict, "README.md").decode()
    assert "CC BY-NC 4.0" in readme and CHOICES[0] in readme and "Krippendorff" in readme
    assert json.loads(read(manager, strict, "card.json")) == card


def test_diff_lists_added_removed_and_relabeled_items(api_as, manager, labeled):
    project, _ = labeled
    before = build(manager, project, labels=[CHOICES[0], CHOICES[1], CHOICES[2]])
    _, reviewer = api_as(Role.REVIEWER)
    item = manager.get("/api/qa/review").json["items"]
    assert item == []  # 2-1 splits pass the 0.6 threshold: nothing to review
    narrower = build(manager, project, labels=[CHOICES[0], CHOICES[1]])
    changes = manager.get(f"/api/exports/{narrower['id']}/diff?against={before['id']}").json
    assert changes["removed"]["count"] == before["items"] - narrower["items"] > 0
    assert changes["added"]["count"] == 0 and changes["relabeled"]["count"] == 0
    assert changes["unchanged"] == narrower["items"]
    back = manager.get(f"/api/exports/{before['id']}/diff?against={narrower['id']}").json
    assert back["added"]["count"] == changes["removed"]["count"]
    assert reviewer.get(f"/api/exports/{before['id']}/diff?against={narrower['id']}").status_code == 403


def test_buyers_see_published_versions_request_access_and_download_with_signed_links(app, api_as, manager, labeled):
    project, _ = labeled
    dataset = build(manager, project, license="商用许可 / commercial")
    buyer_user, buyer = api_as(Role.BUYER)
    _, other_buyer = api_as(Role.BUYER)
    assert buyer.get("/api/exports").json["datasets"] == []  # nothing published yet
    manager.post(f"/api/exports/{dataset['id']}/publish")
    (entry,) = buyer.get("/api/exports").json["datasets"]
    assert entry["card"]["items"] == 40 and "files" not in entry and "options" not in entry
    assert len(buyer.get(f"/api/exports/{dataset['id']}/preview").json["items"]) == 5
    train = next(f for f in manager.get(f"/api/exports/{dataset['id']}").json["files"] if f["path"] == "jsonl/train.jsonl")
    assert buyer.post(train["link_url"]).status_code == 403  # not granted
    assert buyer.post(f"/api/exports/{dataset['id']}/requests", json={"message": "用于训练分拨模型"}).json["access"] == "requested"
    (request,) = manager.get(f"/api/exports/{dataset['id']}/grants").json["grants"]
    assert request["buyer"] == buyer_user.username and request["status"] == "requested"
    manager.post(f"/api/exports/{dataset['id']}/grants", json={"buyer": buyer_user.username, "license_terms": "仅限内部使用"})
    entry = buyer.get(f"/api/exports/{dataset['id']}").json
    assert entry["access"] == "granted" and entry["license_terms"] == "仅限内部使用"
    link = buyer.post(train["link_url"]).json
    browser = app.test_client()  # no sign-in: the link itself is the credential while it is fresh
    with browser.get(link["url"]) as whole, browser.get(link["url"], headers={"Range": "bytes=10-19"}) as part:
        assert whole.status_code == 200 and part.status_code == 206
        assert part.get_data() == whole.get_data()[10:20] and len(whole.get_data()) == train["size_bytes"]
    assert db.session.query(Download).filter_by(buyer_id=buyer_user.id).count() == 2
    forged = link["url"][:-3] + ("aaa" if not link["url"].endswith("aaa") else "bbb")
    assert browser.get(forged).status_code == 404
    assert other_buyer.get(f"/api/exports/{dataset['id']}").json["access"] is None
    app.config["DOWNLOAD_LINK_SECONDS"] = -1  # every link is now past its lifetime
    expired = browser.get(link["url"])
    assert expired.status_code == 403 and "expired" in expired.get_data(as_text=True)
    app.config["DOWNLOAD_LINK_SECONDS"] = 600
    manager.post(f"/api/exports/{dataset['id']}/grants", json={"buyer": buyer_user.username, "status": "revoked"})
    assert browser.get(link["url"]).status_code == 403  # a revoked grant kills live links too


def test_version_definitions_are_checked(api_as, manager, fake_ls):
    empty = job(manager, ["未标注"], overlap=1)
    assert manager.post("/api/exports", json={"project_ids": [empty["id"]]}).status_code == 409
    label_all(api_as(Role.ANNOTATOR)[1], {"未标注": CHOICES[0]})
    wrong = manager.post("/api/exports", json={"project_ids": [empty["id"]], "formats": ["coco"]})
    assert wrong.status_code == 422 and "coco" in wrong.json["message"]
    split = manager.post("/api/exports", json={"project_ids": [empty["id"]], "split": [0.5, 0.5, 0.5]})
    assert split.status_code == 422 and split.json["message"].startswith("split")
    other = job(manager, ["别的领域"], overlap=1, domain="司法")
    mixed = manager.post("/api/exports", json={"project_ids": [empty["id"], other["id"]]})
    assert mixed.status_code == 422 and "domain" in mixed.json["message"]
    _, stranger = api_as(Role.MANAGER)
    assert stranger.post("/api/exports", json={"project_ids": [empty["id"]]}).status_code == 404


def test_catalog_and_dataset_pages_show_what_each_role_may_see(api_as, manager, labeled):
    project, _ = labeled
    dataset = build(manager, project, license="CC BY 4.0", description="市民来信分拨数据")
    page = manager.get("/datasets").get_data(as_text=True)
    assert "Build a new version" in page and "市民来信分拨" in page
    staff_view = manager.get(f"/datasets/{dataset['id']}").get_data(as_text=True)
    assert "Quality passport" in staff_view and "Publish to the catalog" in staff_view
    _, buyer = api_as(Role.BUYER)
    assert buyer.get(f"/datasets/{dataset['id']}").status_code == 404  # unpublished: not in the catalog
    manager.post(f"/api/exports/{dataset['id']}/publish")
    buyer_view = buyer.get(f"/datasets/{dataset['id']}").get_data(as_text=True)
    assert "Request access" in buyer_view and "来信第" in buyer_view  # card and preview, no files
    assert 'class="file-link"' not in buyer_view and 'id="build-form"' not in buyer.get("/datasets").get_data(as_text=True)
    assert api_as(Role.ANNOTATOR)[1].get("/datasets").status_code == 403
