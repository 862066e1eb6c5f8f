/* A job's page: lifecycle buttons, data upload and publishing with progress bars fed by the job
   record (GET /api/jobs/<id>), the upload report, and per-batch progress. */
"use strict";

(function (QL) {
  const root = document.getElementById("job");
  const jobId = root.dataset.id;
  const transitions = JSON.parse(root.dataset.transitions);
  const $ = (id) => document.getElementById(id);
  const statusNames = JSON.parse(root.dataset.statusNames);
  const PHASES = { received: QL.t("Received"), importing: QL.t("Importing"), done: QL.t("Done"),
                   rejected: QL.t("Nothing imported: the file has bad rows") };
  const LISTED_ERRORS = 10;

  function el(tag, props, ...children) {
    const node = Object.assign(document.createElement(tag), props || {});
    node.append(...children);
    return node;
  }

  function progressCell(done, needed, label) {
    const bar = el("progress", { max: needed || 1, value: Math.min(done, needed || 1) });
    bar.setAttribute("aria-label", label);
    const text = el("span", { className: "progress-text" }, `${done} / ${needed}`);
    return el("div", { className: "progress-line" }, bar, text);
  }

  /* Refresh the headline figures, the status badge and the lifecycle buttons from the API. */
  async function refreshJob() {
    const reply = await QL.api("GET", `/api/projects/${jobId}`);
    if (!reply.ok) return;
    const job = reply.data;
    QL.setProgress($("job-progress"), job.annotations, job.annotations_needed);
    $("job-tasks").textContent = job.tasks;
    $("job-gold").textContent = job.gold_tasks;
    $("job-ls").textContent = job.ls_project_id ? `#${job.ls_project_id}` : QL.t("not published");
    const badge = $("job-status");
    badge.textContent = statusNames[job.status];
    badge.className = `status status-${job.status}`;
    root.dataset.status = job.status;
    renderMoves(job.status, Boolean(job.ls_project_id));
    document.querySelector("#upload-form fieldset").disabled = ["completed", "archived"].includes(job.status);
    $("publish").disabled = job.status === "archived";
  }

  function renderMoves(status, published) {
    // Publishing activates a draft; before it, activating is refused, so no button offers it.
    const buttons = transitions[status]
      .filter(([target]) => published || target !== "active")
      .map(([target, label]) => {
        const button = el("button", { type: "button", textContent: label });
        button.dataset.status = target;
        return button;
      });
    $("lifecycle").replaceChildren(...buttons);
  }

  async function changeStatus(event) {
    const target = event.target.closest("button[data-status]");
    if (!target) return;
    $("lifecycle-error").textContent = "";
    target.disabled = true;
    const reply = await QL.api("POST", `/api/projects/${jobId}/status`, { status: target.dataset.status });
    if (!reply.ok) {
      target.disabled = false;
      $("lifecycle-error").textContent = reply.data.message;
      return;
    }
    await refreshJob();
  }

  async function refreshBatches() {
    const reply = await QL.api("GET", `/api/projects/${jobId}/batches`);
    const body = document.querySelector("#batches tbody");
    if (!reply.ok) {
      const cell = el("td", { colSpan: 4, className: "error", textContent: reply.data.message });
      body.replaceChildren(el("tr", {}, cell));
      return;
    }
    const rows = reply.data.batches.map((b) => el("tr", {},
      el("td", { textContent: `#${b.number}` }), el("td", { textContent: b.group || "—" }),
      el("td", { textContent: b.items }),
      el("td", {}, progressCell(b.annotations, b.needed, QL.t("Batch {n}", { n: b.number })))));
    if (!rows.length) {
      rows.push(el("tr", {}, el("td", { colSpan: 4, className: "muted", textContent: QL.t("No items yet") })));
    }
    body.replaceChildren(...rows);
  }

  /* Show a job run's progress until it ends; resolves to the final job record. */
  async function follow(job, runId, what) {
    const bar = $(`${runId}-progress`);
    $(runId + "-run").hidden = false;
    return QL.pollJob(job.id, (record) => {
      const percent = Math.round(record.progress * 100);
      const text = record.status === "finished" ? QL.t("Done")
        : record.status === "failed" ? QL.t("Failed")
        : `${what} ${percent}%${record.message ? " · " + record.message : ""}`;
      QL.setProgress(bar, record.status === "finished" ? 1 : record.progress, 1, text);
    });
  }

  function showReport(report) {
    const figures = el("ul", { className: "report-figures" },
      el("li", { textContent: QL.t("Phase: {phase}", { phase: PHASES[report.phase] || report.phase }) }),
      el("li", { textContent: QL.t("Created: {n}", { n: report.created }) }),
      el("li", { textContent: QL.t("Duplicates: {n}", { n: report.duplicates }) }),
      el("li", { textContent: QL.t("Bad rows: {n}", { n: report.error_count }) }));
    const parts = [el("h3", { textContent: QL.t("Upload report: {name}", { name: report.filename }) }), figures];
    if (report.errors.length) {
      const shown = report.errors.slice(0, LISTED_ERRORS);
      parts.push(el("p", { textContent: QL.t("First {n} errors (file, line):", { n: shown.length }) }),
                 el("ol", { className: "report-errors" }, ...shown.map((e) => el("li", { textContent: e }))));
    }
    $("upload-report").replaceChildren(el("div", { className: `report report-${report.phase}` }, ...parts));
  }

  async function upload(event) {
    event.preventDefault();
    const form = event.target;
    const file = form.elements.file.files[0];
    $("upload-error").textContent = "";
    $("upload-report").replaceChildren();
    if (!file) {
      $("upload-error").textContent = "file: " + QL.t("choose a file");
      return;
    }
    const data = new FormData();
    data.append("file", file);
    data.append("skip_bad_rows", form.elements.skip_bad_rows.checked ? "true" : "false");
    if (form.elements.gold_field.value.trim()) data.append("gold_field", form.elements.gold_field.value.trim());
    const fieldset = form.querySelector("fieldset");
    fieldset.disabled = true;
    QL.setProgress($("upload-progress"), 0, 1, QL.t("Uploading…"));
    $("upload-run").hidden = false;
    try {
      const reply = await QL.api("POST", `/api/projects/${jobId}/uploads`, data);
      if (!reply.ok) throw new Error(reply.data.message);
      const record = await follow(reply.data.job, "upload", QL.t("Importing"));
      if (record.status === "failed") throw new Error(record.error || QL.t("The import failed"));
      const report = await QL.api("GET", reply.data.upload_url);
      if (!report.ok) throw new Error(report.data.message);
      showReport(report.data);
      form.reset();
    } catch (err) {
      $("upload-error").textContent = err.message;
    } finally {
      fieldset.disabled = false;
      await Promise.all([refreshJob(), refreshBatches()]);
    }
  }

  async function publish() {
    const button = $("publish");
    button.disabled = true;
    $("publish-error").textContent = "";
    $("publish-result").textContent = "";
    QL.setProgress($("publish-progress"), 0, 1, QL.t("Queued…"));
    try {
      const reply = await QL.api("POST", `/api/projects/${jobId}/publish`);
      if (!reply.ok) throw new Error(reply.data.message);
      const record = await follow(reply.data.job, "publish", QL.t("Pushing"));
      if (record.status === "failed") throw new Error(record.error || QL.t("Publishing failed"));
      $("publish-result").textContent = QL.t("Published to Label Studio");
    } catch (err) {
      $("publish-error").textContent = err.message;
    } finally {
      button.disabled = false;
      await Promise.all([refreshJob(), refreshBatches()]);
    }
  }

  $("lifecycle").addEventListener("click", changeStatus);
  $("upload-form").addEventListener("submit", upload);
  $("publish").addEventListener("click", publish);
  refreshBatches();
})(window.QL);
