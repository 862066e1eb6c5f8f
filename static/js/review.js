/* QA pages: start a QA run over the whole job (quality page), and post a reviewer's final label
   (review queue). Everything else on these pages is rendered by the server. */
"use strict";

(function (QL) {
  const start = document.getElementById("qa-start");
  if (start) {
    start.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = document.getElementById("qa-start-error");
      const button = start.querySelector("button");
      button.disabled = true;
      error.textContent = QL.t("Running QA…");
      const reply = await QL.api("POST", `/api/qa/projects/${start.dataset.project}/runs`, {});
      if (!reply.ok) {
        error.textContent = reply.data.message;
        button.disabled = false;
        return;
      }
      const done = await QL.pollJob(reply.data.job.id, () => {});
      if (done.status === "failed") {
        error.textContent = done.error || QL.t("Failed");
        button.disabled = false;
        return;
      }
      window.location.search = `?run=${reply.data.run.id}`;
    });
  }

  for (const form of document.querySelectorAll("form.review-decision")) {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const error = form.querySelector(".form-error");
      const picked = form.querySelector('input[name="label"]:checked');
      const note = form.elements.note.value.trim();
      const reply = await QL.api("POST", `/api/qa/review/${form.dataset.item}`,
                                 { label: picked ? picked.value : null, note: note || null });
      if (!reply.ok) {
        error.textContent = reply.data.message;
        return;
      }
      const section = form.closest("section");
      section.querySelector("h2").insertAdjacentHTML("beforeend", ` <span class="status status-completed">${QL.t("Decided")}</span>`);
      form.replaceWith(Object.assign(document.createElement("p"), {
        textContent: QL.t("Final label: {label}", { label: reply.data.label }), className: "decided" }));
    });
  }
})(window.QL);
