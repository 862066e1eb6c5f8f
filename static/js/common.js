/* Shared helpers for the manager's pages: JSON API calls with the CSRF token, polling a background
   job, showing an API error next to the field it names, reading the job settings form. */
"use strict";

window.QL = window.QL || {};

(function (QL) {
  const csrfToken = () => document.querySelector('meta[name="csrf-token"]').content;

  /* Call the API; resolves to {ok, status, data}. `body` is a FormData or a JSON-able value. */
  QL.api = async function (method, url, body) {
    const headers = { Accept: "application/json" };
    const init = { method, headers, credentials: "same-origin" };
    if (method !== "GET" && method !== "HEAD") headers["X-CSRFToken"] = csrfToken();
    if (body instanceof FormData) {
      init.body = body;
    } else if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(url, init);
    } catch (err) {
      return { ok: false, status: 0, data: { error: "network", message: QL.t("Network error:") + err.message } };
    }
    let data = null;
    try {
      data = await response.json();
    } catch (err) {
      data = { error: "bad_reply", message: `HTTP ${response.status}` };
    }
    return { ok: response.ok, status: response.status, data };
  };

  QL.debounce = function (fn, wait) {
    let timer = null;
    return function (...args) {
      clearTimeout(timer);
      timer = setTimeout(() => fn.apply(this, args), wait);
    };
  };

  /* Poll GET /api/jobs/<id> until it finishes or fails; onUpdate(record) after each reply. */
  QL.pollJob = async function (jobId, onUpdate, every = 500) {
    for (;;) {
      const reply = await QL.api("GET", `/api/jobs/${jobId}`);
      if (!reply.ok) throw new Error(reply.data.message);
      onUpdate(reply.data);
      if (reply.data.status === "finished" || reply.data.status === "failed") return reply.data;
      await new Promise((resolve) => setTimeout(resolve, every));
    }
  };

  /* Set a <progress> and its text from a fraction 0..1 (or done/total). */
  QL.setProgress = function (bar, done, total, text) {
    bar.max = total || 1;
    bar.value = Math.min(done, total || 1);
    const label = bar.parentElement.querySelector(".progress-text");
    if (label) label.textContent = text !== undefined ? text : `${done} / ${total}`;
  };

  /* The field an API message is about: "title: ..." -> "title", "label_config, line 3: ..." -> "label_config". */
  QL.fieldOf = function (message) {
    const match = /^([A-Za-z_][\w.]*)\s*[:,]/.exec(message || "");
    return match ? match[1] : null;
  };

  QL.clearErrors = function (root) {
    root.querySelectorAll("[data-error-for], .form-error").forEach((el) => { el.textContent = ""; });
    root.querySelectorAll('[aria-invalid="true"]').forEach((el) => el.removeAttribute("aria-invalid"));
  };

  /* Show `message` next to the field it names; returns false when no such field is on the page. */
  QL.showFieldError = function (root, message) {
    const field = QL.fieldOf(message);
    const slot = field && root.querySelector(`[data-error-for="${CSS.escape(field)}"]`);
    if (!slot) return false;
    slot.textContent = message;
    const input = root.querySelector(`[name="${CSS.escape(field)}"]`);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }
    return true;
  };

  const NUMBERS = { overlap: parseInt, batch_size: parseInt, gold_share: parseFloat,
                    consensus_threshold: parseFloat, min_gold_accuracy: parseFloat, min_gold_answers: parseInt };

  /* The settings inputs of `form` as an API body; `onlyChanged` keeps those that differ from data-initial. */
  QL.readSettings = function (form, onlyChanged) {
    const body = {};
    const names = ["title", "domain", "guidelines", "deadline", "piece_rate", "required_skills",
                   "batch_group_field", "qa_method", "max_overlap", ...Object.keys(NUMBERS)];
    for (const name of names) {
      const input = form.elements[name];
      if (!input || input.disabled) continue;
      const raw = input.value;
      if (onlyChanged && raw === (input.dataset.initial || "")) continue;
      if (name in NUMBERS) {
        if (raw.trim() === "") continue;
        const number = NUMBERS[name](raw);
        body[name] = Number.isNaN(number) ? raw : number;  // the API names the field if it is not a number
      } else if (name === "max_overlap") {  // empty: no dynamic overlap
        const number = parseInt(raw, 10);
        body[name] = raw.trim() === "" ? null : (Number.isNaN(number) ? raw : number);
      } else if (name === "required_skills") {
        body[name] = raw.split(/[,，、\n]/).map((s) => s.trim()).filter(Boolean);
      } else if (name === "guidelines") {
        body[name] = raw;
      } else if (name === "deadline" || name === "batch_group_field") {
        body[name] = raw.trim() || null;
      } else {
        body[name] = raw.trim();
      }
    }
    if (!onlyChanged && !body.deadline) delete body.deadline;
    if (!onlyChanged && !body.batch_group_field) delete body.batch_group_field;
    if (!onlyChanged && body.max_overlap === null) delete body.max_overlap;
    return body;
  };
})(window.QL);
