/* The annotator's workspace (/work): ask the queue for a task (GET /api/tasks/next), show it in the
   Label Studio editor beside the job's guidelines, send the answer with its lead time or a skip
   with its reason, keep the lease alive while the annotator is active, show their own counts.
   The server decides everything (what is handed out, whether a late answer counts); this page
   shows what it says. */
"use strict";

(function (QL) {
  const RENEW_EVERY_MS = 60 * 1000;    // renew the lease once a minute...
  const ACTIVE_WINDOW_MS = 120 * 1000;  // ...while the annotator used mouse or keyboard in the last 2 minutes
  // What an annotator needs: Submit (and Update, to send again after a refused submit); no preview-only bits.
  const INTERFACES = ["panel", "update", "submit", "controls", "side-column", "topbar"];
  const VIEWS = ["idle", "loading", "none", "work"];

  const root = document.getElementById("workspace");
  const $ = (id) => document.getElementById(id);
  const ui = {
    start: $("start"), next: $("next"), skip: $("skip"), taskInfo: $("task-info"), leaseInfo: $("lease-info"),
    message: $("message"), error: $("error"), editor: $("ls-editor"), guidelines: $("guidelines"),
    guidelinesVersion: $("guidelines-version"), dialog: $("skip-dialog"), skipForm: $("skip-form"),
    skipOther: $("skip-other"), skipError: $("skip-error"), pauseNote: $("pause-note"), statsNote: $("stats-note"),
  };
  const projectId = new URLSearchParams(window.location.search).get("project_id");
  const state = {
    task: null, context: null, editor: null,
    shownAt: null,      // performance.now() when the editor showed the task: the lead time starts there
    holding: false,     // we hold a live lease on state.task: Next waits, Skip and renewals apply
    busy: false,        // a request that changes the task is under way
    deadline: 0, renewedAt: 0, renewEvery: RENEW_EVERY_MS, lastActivity: Date.now(),
  };

  // --- what the page shows ------------------------------------------------------------------------

  function setView(view) {
    root.dataset.state = view;
    for (const name of VIEWS) $(name).hidden = name !== view;
    ui.start.hidden = view !== "idle";
    ui.next.hidden = view === "idle";
    ui.skip.hidden = view !== "work";
    updateButtons();
  }

  function updateButtons() {
    ui.start.disabled = state.busy;
    ui.next.disabled = state.busy || state.holding;
    ui.skip.disabled = state.busy || !state.holding;
  }

  function showMessage(text, kind) {
    ui.message.textContent = text;
    ui.message.className = `notice${kind ? ` notice-${kind}` : ""}`;
  }

  function showError(text) {
    ui.error.textContent = text;
  }

  function clearNotes() {
    showMessage("");
    showError("");
  }

  function showGuidelines(context) {
    // Built by the server's safe Markdown renderer: user text arrives escaped, only its own tags remain.
    ui.guidelines.innerHTML = context.guidelines_markdown_html || "";
    if (!context.guidelines_markdown_html) ui.guidelines.textContent = QL.t("none yet）");
    ui.guidelinesVersion.textContent = `v${context.guidelines_version}`;
  }

  function formatLeft(ms) {
    const seconds = Math.max(0, Math.ceil(ms / 1000));
    return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
  }

  function showLease() {
    if (!state.task) {
      ui.leaseInfo.textContent = "";
    } else if (state.holding) {
      ui.leaseInfo.textContent = QL.t("Lease: {left}", { left: formatLeft(state.deadline - performance.now()) });
    } else {
      ui.leaseInfo.textContent = QL.t("Lease ended");
    }
  }

  // --- the task in hand ---------------------------------------------------------------------------

  function dropTask() {
    if (state.editor) state.editor.destroy();
    Object.assign(state, { task: null, context: null, editor: null, shownAt: null, holding: false });
    delete root.dataset.taskId;
    ui.taskInfo.textContent = "";
    showLease();
  }

  function showTask(task, context) {
    const seconds = context.lease.seconds;
    Object.assign(state, {
      task, context, holding: context.lease.status === "leased" && context.lease.expires_in > 0,
      deadline: performance.now() + context.lease.expires_in * 1000, renewedAt: performance.now(),
      // A short lease is renewed well before it runs out.
      renewEvery: Math.min(RENEW_EVERY_MS, (seconds * 1000) / 2),
    });
    root.dataset.taskId = String(task.id);
    const rate = Number(context.piece_rate) > 0 ? " · " + QL.t("¥{rate} per item", { rate: context.piece_rate }) : "";
    ui.taskInfo.textContent = `${context.project_title} · ${QL.t("Task #{id}", { id: task.id })}${rate}`;
    showGuidelines(context);
    setView("work");
    showLease();
    try {
      state.editor = QL.mountEditor(ui.editor, {
        config: context.config, data: task.data, taskId: task.id, interfaces: INTERFACES,
        user: { pk: Number(root.dataset.userId), firstName: root.dataset.userName, lastName: "" },
        onLoad() { state.shownAt = performance.now(); },
        onSubmit: submit, onUpdate: submit,
      });
    } catch (err) {
      showError(err.message);
    }
  }

  async function loadNext() {
    if (state.busy) return;
    state.busy = true;
    showError("");
    dropTask();
    setView("loading");
    try {
      const url = projectId ? `/api/tasks/next?project_id=${encodeURIComponent(projectId)}` : "/api/tasks/next";
      const reply = await QL.api("GET", url);
      if (!reply.ok) {
        showError(QL.t("Could not get a task: {reason}", { reason: reply.data.message }));
        setView("idle");
        return;
      }
      const task = reply.data.task;
      if (!task) {
        setView("none");
        return;
      }
      const context = await QL.api("GET", `/work/api/tasks/${task.id}/context`);
      if (!context.ok) {
        showError(QL.t("Could not load the task: {reason}", { reason: context.data.message }));
        setView("idle");
        return;
      }
      showTask(task, context.data);
    } finally {
      state.busy = false;
      updateButtons();
      keepFocus();
    }
  }

  /* Start/Next may have just hidden or disabled the focused button: put the keyboard somewhere useful. */
  function keepFocus() {
    const focused = document.activeElement;
    if (focused && focused !== document.body && !focused.disabled && focused.offsetParent !== null) return;
    if (root.dataset.state === "work") ui.editor.focus();
    else if (!ui.next.hidden) ui.next.focus();
    else ui.start.focus();
  }

  function leadTime() {
    if (state.shownAt === null) return null;
    return Math.max(0.001, Math.round(performance.now() - state.shownAt) / 1000);
  }

  // POST about the current task with the buttons disabled meanwhile; null when nothing to do.
  async function postForTask(task, path, body) {
    if (!task || state.busy) return null;
    state.busy = true;
    updateButtons();
    try {
      return await QL.api("POST", `/api/tasks/${task.id}/${path}`, body);
    } finally {
      state.busy = false;
      updateButtons();
    }
  }

  // The task is no longer this person's (lease gone, already answered): Next moves on.
  function releaseHold() {
    state.holding = false;
    updateButtons();
    showLease();
  }

  async function submit(result) {
    const task = state.task;
    const reply = await postForTask(task, "annotations", { result, lead_time: leadTime() });
    if (!reply) return;
    if (!reply.ok) {
      // 422: the answer needs fixing, and the editor still holds it (Ctrl+Enter sends it again).
      if (reply.status === 404 || reply.status === 409) releaseHold();
      showError(QL.t("Not saved: {reason}", { reason: reply.data.message }));
      return;
    }
    if (reply.data.status === "extra") {
      showMessage(QL.t("Kept as extra, not counted: {reason}", { reason: reply.data.message }), "warn");
    } else {
      showMessage(QL.t("Task #{id} submitted", { id: task.id }), "ok");
    }
    refreshStats();
    await loadNext();
  }

  // --- skipping -----------------------------------------------------------------------------------

  function openSkip() {
    if (!state.holding) return;
    ui.skipForm.reset();
    ui.skipError.textContent = "";
    ui.dialog.showModal();
    ui.skipForm.querySelector('input[name="skip_reason"]').focus();
  }

  async function confirmSkip(event) {
    event.preventDefault();
    const picked = ui.skipForm.querySelector('input[name="skip_reason"]:checked');
    const reason = ui.skipOther.value.trim() || (picked ? picked.value : "");
    if (!reason) {
      ui.skipError.textContent = QL.t("Pick or write a reason");
      ui.skipOther.setAttribute("aria-invalid", "true");
      return;
    }
    const task = state.task;
    const reply = await postForTask(task, "skip", { reason });
    if (!reply) return;
    if (!reply.ok && reply.status === 422) {
      ui.skipError.textContent = reply.data.message;
      return;
    }
    ui.dialog.close();
    if (!reply.ok) {
      releaseHold();
      showError(QL.t("Could not skip: {reason}", { reason: reply.data.message }));
      return;
    }
    showMessage(QL.t("Task #{id} skipped", { id: task.id }), "ok");
    await loadNext();
  }

  // --- the lease: renewed while the annotator is active; a clear word when it runs out ---------------

  function leaseExpired(detail) {
    if (!state.holding) return;
    releaseHold();
    showError("租约已过期：这条任务可能已交给别人。你仍可提交——名额未满则照常计入，否则保存为额外标注；" +
              QL.t("Your lease on this task expired and it may have gone to someone") +
              "else. You can still submit (it counts if a slot is free, otherwise it is kept as extra), " +
              `or press Next for a new task.${detail ? ` (${detail})` : ""}`);
  }

  async function renew() {
    const task = state.task;
    state.renewedAt = performance.now();
    const reply = await QL.api("POST", `/api/tasks/${task.id}/lease`);
    if (state.task !== task) return;  // moved on meanwhile
    if (reply.ok) {
      state.deadline = performance.now() + state.context.lease.seconds * 1000;
    } else if (reply.status === 409 || reply.status === 404) {
      leaseExpired(reply.data.message);
    }  // anything else (network): the next tick tries again
  }

  function tick() {
    if (!state.task || !state.holding) return;
    const now = performance.now();
    if (now >= state.deadline) {
      leaseExpired();
      return;
    }
    const active = Date.now() - state.lastActivity < ACTIVE_WINDOW_MS;
    if (active && now - state.renewedAt >= state.renewEvery) renew();
    showLease();
  }

  function noteActivity() {
    state.lastActivity = Date.now();
  }

  // --- the annotator's own counts (GET /api/workforce/me, when the app has it) ----------------------

  async function refreshStats() {
    const url = root.dataset.statsUrl;
    const reply = url ? await QL.api("GET", url) : { ok: false };
    ui.statsNote.hidden = reply.ok;
    if (!reply.ok) return;
    const me = reply.data;
    const set = (id, value) => { $(id).textContent = value === undefined || value === null ? "—" : value; };
    const money = (value) => (value === undefined || value === null ? null : `¥${value}`);
    set("stat-today-accepted", me.today && me.today.accepted);
    set("stat-today-earnings", money(me.today && me.today.earnings));
    set("stat-total-accepted", me.total && me.total.accepted);
    set("stat-total-earnings", money(me.total && me.total.earnings));
    const pause = me.pause;
    ui.pauseNote.hidden = !pause;
    ui.pauseNote.textContent = pause ? QL.t("You are paused: {reason}", { reason: pause.reason || "" }) : "";
  }

  // --- wiring -------------------------------------------------------------------------------------

  ui.start.addEventListener("click", () => { clearNotes(); loadNext(); });
  ui.next.addEventListener("click", () => { clearNotes(); loadNext(); });
  ui.skip.addEventListener("click", openSkip);
  ui.skipForm.addEventListener("submit", confirmSkip);
  $("skip-cancel").addEventListener("click", () => ui.dialog.close());
  ui.skipOther.addEventListener("input", () => ui.skipOther.removeAttribute("aria-invalid"));
  // The editor's hotkeys listen on the whole document: typing a reason must not pick a label.
  ui.dialog.addEventListener("keydown", (event) => event.stopPropagation());
  for (const type of ["mousemove", "mousedown", "keydown", "wheel", "touchstart"]) {
    window.addEventListener(type, noteActivity, { capture: true, passive: true });
  }
  window.setInterval(tick, 1000);
  setView("idle");
  refreshStats();
})(window.QL);
