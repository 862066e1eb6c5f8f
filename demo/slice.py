"""The end-to-end slice over the platform's HTTP API, as real users would drive it.

A manager creates a text-classification job from the sample CSV and publishes it to Label
Studio; three annotators pull tasks and submit labels (right most of the time, as people are);
the manager runs QA and builds a dataset of the agreed items and grants it to a buyer, who
downloads it. `flask demo slice` runs it against a live platform; the integration test too.
"""
from __future__ import annotations

import json
import random
import time
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, Callable

import httpx

from demo.samples import DEPARTMENTS, citizen_questions, questions_csv


@dataclass
class SliceResult:
    project: dict[str, Any]
    submitted: int
    qa_run: dict[str, Any]
    dataset: dict[str, Any]
    downloaded: list[dict[str, Any]]


class Client:
    """An API client acting as one user (bearer token from their password)."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=60.0)
        try:
            reply = self._check(self.http.post("/api/accounts/tokens", auth=(username, password),
                                               json={"name": "demo"}))
        except Exception:
            self.http.close()
            raise
        self.http.headers["Authorization"] = f"Bearer {reply.json()['token']}"

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *_exc: object) -> None:
        self.http.close()

    @staticmethod
    def _check(reply: httpx.Response) -> httpx.Response:
        if reply.is_error:
            raise RuntimeError(f"{reply.request.method} {reply.request.url.path}: "
                               f"HTTP {reply.status_code} {reply.text[:500]}")
        return reply

    def get(self, path: str, **kw) -> Any:
        return self._check(self.http.get(path, **kw)).json()

    def post(self, path: str, **kw) -> Any:
        return self._check(self.http.post(path, **kw)).json()

    def wait(self, job_id: int, timeout: float = 300.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.get(f"/api/jobs/{job_id}")
            if job["status"] == "finished":
                return job
            if job["status"] == "failed":
                raise RuntimeError(f"job {job_id} ({job['kind']}) failed: {job['error']}")
            time.sleep(0.3)
        raise TimeoutError(f"job {job_id} did not finish within {timeout:.0f} s")


def _label_all(annotator: Client, project_id: int, truth: dict[str, str], accuracy: float,
               rng: random.Random) -> int:
    done = 0
    while (task := annotator.get("/api/tasks/next", params={"project_id": project_id})["task"]):
        right = truth[task["data"]["text"]]
        label = right if rng.random() < accuracy else rng.choice(list(DEPARTMENTS))
        result = [{"from_name": "label", "to_name": "text", "type": "choices",
                   "value": {"choices": [label]}}]
        annotator.post(f"/api/tasks/{task['id']}/annotations",
                       json={"result": result, "lead_time": round(rng.uniform(3, 20), 1)})
        done += 1
    return done


def run_slice(base_url: str, logins: dict[str, tuple[str, str]], items: int = 30, seed: int = 7,
              log: Callable[[str], None] = print) -> SliceResult:
    """Drive the whole slice; `logins` maps manager, annotator1-3 and buyer to (username, password)."""
    with ExitStack() as stack:
        def sign_in(who: str) -> Client:
            return stack.enter_context(Client(base_url, *logins[who]))
        return _slice(sign_in, logins["buyer"][0], items, seed, log)


def _slice(sign_in: Callable[[str], Client], buyer_name: str, items: int, seed: int,
           log: Callable[[str], None]) -> SliceResult:
    manager = sign_in("manager")
    project = manager.post("/api/projects", json={
        "title": "市民来信分拨 Citizen questions routing", "domain": "government",
        "guidelines": "把每条市民来信分给负责的部门。Route each question to the responsible department.",
        "overlap": 3, "piece_rate": "0.20",
        "template": {"type": "text_classification", "choices": list(DEPARTMENTS)}})
    log(f"job {project['id']} created")
    upload = manager.post(f"/api/projects/{project['id']}/uploads",
                          files={"file": ("citizen_questions.csv", questions_csv(items, seed), "text/csv")})
    manager.wait(upload["job"]["id"])
    log(f"imported {manager.get(upload['upload_url'])['created']} items")
    manager.wait(manager.post(f"/api/projects/{project['id']}/publish")["job"]["id"])
    project = manager.get(f"/api/projects/{project['id']}")
    log(f"published to Label Studio project {project['ls_project_id']}")
    truth = {row["text"]: row["department"] for row in citizen_questions(items, seed)}
    rng = random.Random(seed)
    submitted = sum(_label_all(sign_in(f"annotator{i}"), project["id"], truth, accuracy, rng)
                    for i, accuracy in ((1, 0.95), (2, 0.85), (3, 0.75)))
    log(f"annotators submitted {submitted} labels")
    started = manager.post(f"/api/qa/projects/{project['id']}/runs")
    manager.wait(started["job"]["id"])
    qa_run = manager.get(f"/api/qa/runs/{started['run']['id']}")
    log(f"QA: agreement {qa_run['percent_agreement']:.3f}, {qa_run['agreed']}/{qa_run['tasks']} agreed")
    built = manager.post("/api/exports", json={
        "project_ids": [project["id"]], "formats": ["jsonl", "parquet", "csv"], "license": "CC BY-NC 4.0",
        "description": "市民来信按负责部门分拨，三人标注、多数投票合成。Citizen questions routed to departments."})
    manager.wait(built["job"]["id"])
    dataset_id = built["dataset"]["id"]
    manager.post(f"/api/exports/{dataset_id}/publish")
    buyer = sign_in("buyer")
    buyer.post(f"/api/exports/{dataset_id}/requests", json={"message": "用于训练分拨模型 / to train a router"})
    manager.post(f"/api/exports/{dataset_id}/grants", json={"buyer": buyer_name})
    dataset = buyer.get(f"/api/exports/{dataset_id}")
    rows = []
    for file in dataset["files"]:
        if file["format"] == "jsonl":
            link = buyer.post(file["link_url"])
            rows += [json.loads(line) for line in Client._check(buyer.http.get(link["url"])).text.splitlines()]
    log(f"buyer downloaded dataset {dataset['id']}: {len(rows)} items, sha256 {dataset['sha256'][:12]}")
    return SliceResult(project, submitted, qa_run, dataset, rows)


def open_jobs(base_url: str, logins: dict[str, tuple[str, str]], keys: tuple[str, ...] = ("ner", "bbox"),
              log: Callable[[str], None] = print) -> list[int]:
    """Publish one job per template in `keys` from its samples, left open for annotators to try
    in /work (the slice's own job is finished by the time the demo starts)."""
    with Client(base_url, *logins["manager"]) as manager:
        catalog = {t["key"]: t for t in manager.get("/api/projects/templates")["templates"]}
        made = []
        for key in keys:
            template = catalog[key]
            project = manager.post("/api/projects", json={
                "title": f"演示 Demo: {template['title']}", "overlap": 2, "domain": "demo", "piece_rate": "0.50",
                "guidelines": "按提示标注，不确定时跳过并写明原因。Label as the heading says; skip with a reason when unsure.",
                "template": {"type": key}})
            lines = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in template["samples"])
            upload = manager.post(f"/api/projects/{project['id']}/uploads",
                                  files={"file": (f"{key}.jsonl", lines.encode(), "application/x-ndjson")})
            manager.wait(upload["job"]["id"])
            manager.wait(manager.post(f"/api/projects/{project['id']}/publish")["job"]["id"])
            log(f"open job {project['id']} ({template['title']}) waiting for annotators")
            made.append(project["id"])
        return made
