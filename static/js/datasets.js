/* Dataset pages: build a version (with progress), publish it, request or grant access, fetch a
   signed link and follow it, compare two versions. The pages themselves are server-rendered. */
"use strict";

(function (QL) {
  const $ = (id) => document.getElementById(id);

  const build = $("build-form");
  if (build) {
    const project = build.elements.project_id;
    const showFormats = () => {
      const box = $("b-formats");
      const formats = JSON.parse(project.selectedOptions[0].dataset.formats);
      box.querySelectorAll("label").forEach((label) => label.remove());
      for (const name of formats) {
        const label = document.createElement("label");
        const input = Object.assign(document.createElement("input"), { type: "checkbox", name: "formats", value: name });
        input.checked = name === "jsonl" || name === "parquet";
        label.append(input, " " + name + " ");
        box.append(label);
      }
    };
    project.addEventListener("change", showFormats);
    showFormats();
    build.addEventListener("submit", async (event) => {
      event.preventDefault();
      const f = build.elements;
      const body = {
        project_ids: [parseInt(f.project_id.value, 10)], name: f.name.value.trim() || undefined,
        license: f.license.value.trim(), description: f.description.value.trim(),
        min_confidence: parseFloat(f.min_confidence.value || "0"), seed: parseInt(f.seed.value || "0", 10),
        split: f.split.value.split(/[,，\s]+/).filter(Boolean).map(Number),
        formats: [...build.querySelectorAll('input[name="formats"]:checked')].map((i) => i.value),
        include_annotations: f.include_annotations.checked,
      };
      $("build-error").textContent = "";
      const reply = await QL.api("POST", "/api/exports", body);
      if (!reply.ok) {
        $("build-error").textContent = reply.data.message;
        return;
      }
      $("build-run").hidden = false;
      const done = await QL.pollJob(reply.data.job.id, (job) =>
        QL.setProgress($("build-progress"), job.progress || 0, 1, job.message || job.status));
      if (done.status === "failed") {
        $("build-error").textContent = done.error || QL.t("Failed");
        return;
      }
      window.location.href = `/datasets/${reply.data.dataset.id}`;
    });
  }

  const page = $("dataset");
  if (!page) return;
  const id = page.dataset.id;
  const reloadOr = (reply, errorId) => {
    if (reply.ok) window.location.reload();
    else $(errorId).textContent = reply.data.message;
  };

  for (const link of document.querySelectorAll("a.file-link")) {
    link.addEventListener("click", async (event) => {
      event.preventDefault();
      const reply = await QL.api("POST", link.dataset.link);
      if (reply.ok) window.location.href = reply.data.url;
      else $("link-error").textContent = reply.data.message;
    });
  }
  const access = $("access-form");
  if (access) {
    access.addEventListener("submit", async (event) => {
      event.preventDefault();
      reloadOr(await QL.api("POST", `/api/exports/${id}/requests`,
                            { message: access.elements.message.value.trim() || null }), "access-error");
    });
  }
  const publish = $("publish");
  if (publish) {
    publish.addEventListener("click", async () => reloadOr(await QL.api("POST", `/api/exports/${id}/publish`), "manage-error"));
  }
  for (const button of document.querySelectorAll("button.grant")) {
    button.addEventListener("click", async () => reloadOr(await QL.api("POST", `/api/exports/${id}/grants`,
      { buyer: button.dataset.buyer, status: button.dataset.status }), "manage-error"));
  }
  const grant = $("grant-form");
  if (grant) {
    grant.addEventListener("submit", async (event) => {
      event.preventDefault();
      reloadOr(await QL.api("POST", `/api/exports/${id}/grants`, {
        buyer: grant.elements.buyer.value.trim(), license_terms: grant.elements.license_terms.value.trim() || null,
      }), "manage-error");
    });
  }
  const diff = $("diff-form");
  if (diff) {
    diff.addEventListener("submit", async (event) => {
      event.preventDefault();
      const reply = await QL.api("GET", `/api/exports/${id}/diff?against=${$("diff-against").value}`);
      $("diff-result").textContent = reply.ok
        ? ["added", "removed", "relabeled"].map((k) => `${k}: ${reply.data[k].count}  ${reply.data[k].ids.slice(0, 20).join(", ")}`).join("\n")
          + `\nunchanged: ${reply.data.unchanged}`
        : reply.data.message;
    });
  }
})(window.QL);
