/* A job's settings form: sends only the fields that changed (PATCH /api/projects/<id>) and shows
   the API's answer next to the field it names. */
"use strict";

(function (QL) {
  const form = document.getElementById("edit-form");
  const jobPage = `/projects/${form.dataset.id}`;

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    QL.clearErrors(form);
    const changes = QL.readSettings(form, true);
    if (!Object.keys(changes).length) {
      document.getElementById("form-error").textContent = QL.t("Nothing has changed");
      return;
    }
    const reply = await QL.api("PATCH", `/api/projects/${form.dataset.id}`, changes);
    if (reply.ok) {
      window.location.assign(jobPage);
      return;
    }
    if (!QL.showFieldError(form, reply.data.message)) {
      document.getElementById("form-error").textContent = reply.data.message;
    }
  });
})(window.QL);
