/* The admin's system page: "Queue again" on a failed background job posts to
   /api/admin/jobs/<id>/requeue (JSON, CSRF header from QL.api) and updates the row in place. */
"use strict";

(function (QL) {
  const errorBox = document.getElementById("requeue-error");

  async function requeue(event) {
    event.preventDefault();
    const form = event.currentTarget;
    const button = form.querySelector("button");
    button.disabled = true;
    errorBox.textContent = "";
    const reply = await QL.api("POST", form.action);
    if (!reply.ok) {
      errorBox.textContent = reply.data.message;
      button.disabled = false;
      return;
    }
    const note = document.createElement("span");
    note.className = "status status-active";
    note.textContent = `${form.dataset.done} (${reply.data.job.status})`;
    form.replaceWith(note);
  }

  document.querySelectorAll("form[data-requeue]").forEach((form) => form.addEventListener("submit", requeue));
})(window.QL);
