/* The job wizard: pick a template (or paste XML), edit its options, see the config live in the
   Label Studio editor on a sample item, fill in the settings, create the job. The server checks
   everything (POST /api/projects/preview, POST /api/projects); this page shows what it says. */
"use strict";

(function (QL) {
  const form = document.getElementById("job-form");
  const picker = document.getElementById("template-picker");
  const optionsBox = document.getElementById("options");
  const xmlBox = document.getElementById("xml-box");
  const xmlInput = document.getElementById("f-label_config");
  const itemInput = document.getElementById("f-item");
  const configError = document.getElementById("error-label_config");
  const itemError = document.getElementById("error-item");
  const previewHost = document.getElementById("ls-preview");
  const previewStatus = document.getElementById("preview-status");
  const XML = "__xml";
  const OPTION_NAMES = {
    choices: QL.t("Choices, one per line"), labels: QL.t("Labels, one per line"),
    field: QL.t("Data field"), multiple: QL.t("Allow several choices"),
    header: QL.t("Instruction shown above"), placeholder: QL.t("Placeholder"),
    prompt_field: QL.t("Prompt field"), context_field: QL.t("Context field (optional)"),
    left_field: QL.t("Left answer field"), right_field: QL.t("Right answer field"),
  };
  // The API's JSON sorts keys; show the options in the order a manager thinks of them.
  const OPTION_ORDER = ["header", "choices", "labels", "multiple", "field", "prompt_field", "context_field",
                        "left_field", "right_field", "placeholder"];
  const state = { templates: {}, mode: null, template: null, sample: 0, editor: null, shown: "", seq: 0 };

  function radio(value, title, checked) {
    const label = document.createElement("label");
    label.className = "pick";
    const input = document.createElement("input");
    Object.assign(input, { type: "radio", name: "template_choice", value, checked });
    label.append(input, " ", title);
    return label;
  }

  function optionControl(name, value) {
    const wrap = document.createElement("div");
    wrap.className = "field";
    const id = `opt-${name}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = OPTION_NAMES[name] || name;
    let input;
    if (Array.isArray(value)) {
      input = document.createElement("textarea");
      input.rows = Math.min(Math.max(value.length, 3), 10);
      input.value = value.join("\n");
      input.dataset.kind = "list";
    } else if (typeof value === "boolean") {
      input = document.createElement("input");
      input.type = "checkbox";
      input.checked = value;
      input.dataset.kind = "bool";
    } else {
      input = document.createElement("input");
      input.value = value;
      input.dataset.kind = "text";
    }
    Object.assign(input, { id, name: `template.${name}` });
    input.dataset.option = name;
    input.setAttribute("aria-describedby", `error-template-${name}`);
    const error = document.createElement("p");
    error.className = "field-error";
    error.id = `error-template-${name}`;
    error.dataset.errorFor = `template.${name}`;
    error.setAttribute("aria-live", "polite");
    if (input.type === "checkbox") {
      label.prepend(input, " ");
      wrap.append(label, error);
    } else {
      wrap.append(label, input, error);
    }
    return wrap;
  }

  function templateBody() {
    const body = { type: state.template.key };
    optionsBox.querySelectorAll("[data-option]").forEach((input) => {
      const kind = input.dataset.kind;
      body[input.dataset.option] = kind === "list"
        ? input.value.split("\n").map((s) => s.trim()).filter(Boolean)
        : kind === "bool" ? input.checked : input.value;
    });
    return body;
  }

  function configBody() {
    return state.mode === XML ? { label_config: xmlInput.value } : { template: templateBody() };
  }

  function showSample() {
    const samples = state.template.samples;
    itemInput.value = JSON.stringify(samples[state.sample % samples.length], null, 1);
  }

  function choose(value) {
    state.mode = value;
    const isXml = value === XML;
    xmlBox.hidden = !isXml;
    optionsBox.hidden = isXml;
    if (!isXml) {
      state.template = state.templates[value];
      state.sample = 0;
      const rank = (name) => (OPTION_ORDER.includes(name) ? OPTION_ORDER.indexOf(name) : OPTION_ORDER.length);
      optionsBox.replaceChildren(...Object.entries(state.template.default_options)
        .sort(([a], [b]) => rank(a) - rank(b))
        .map(([name, v]) => optionControl(name, v)));
      xmlInput.value = state.template.label_config;
      showSample();
    }
    preview();
  }

  function clearConfigErrors() {
    configError.textContent = "";
    itemError.textContent = "";
    optionsBox.querySelectorAll("[data-error-for]").forEach((el) => { el.textContent = ""; });
    form.querySelectorAll(".config [aria-invalid]").forEach((el) => el.removeAttribute("aria-invalid"));
  }

  function showConfigError(message) {
    const field = QL.fieldOf(message);
    const slot = field && form.querySelector(`.config [data-error-for="${CSS.escape(field)}"]`);
    (slot || configError).textContent = message;
    previewHost.classList.add("stale");
    previewStatus.textContent = QL.t("The config has an error; the preview is not updated");
  }

  async function runPreview() {
    clearConfigErrors();
    let item;
    try {
      item = JSON.parse(itemInput.value);
      if (item === null || typeof item !== "object" || Array.isArray(item)) throw new Error("not an object");
    } catch (err) {
      itemError.textContent = "item: " + QL.t("give a JSON object such as {\"text\": \"...\"}");
      return;
    }
    const seq = ++state.seq;
    previewStatus.textContent = QL.t("Checking the config…");
    const reply = await QL.api("POST", "/api/projects/preview", { ...configBody(), item });
    if (seq !== state.seq) return;  // a newer edit is on its way
    if (!reply.ok) {
      showConfigError(reply.data.message || `HTTP ${reply.status}`);
      return;
    }
    if (state.mode !== XML) xmlInput.value = reply.data.label_config;  // XML mode starts from these options
    render(reply.data.label_config, reply.data.data);
  }

  function render(config, data) {
    previewHost.classList.remove("stale");
    const key = JSON.stringify([config, data]);
    if (key === state.shown && state.editor) {
      previewStatus.textContent = QL.t("The preview is up to date");
      return;
    }
    if (state.editor) state.editor.destroy();
    try {
      state.editor = QL.mountEditor(previewHost, {
        config, data, user: { pk: Number(form.dataset.userId), firstName: form.dataset.user, lastName: "" } });
      state.shown = key;
      previewStatus.textContent = QL.t("The preview is up to date");
    } catch (err) {
      state.editor = null;
      previewStatus.textContent = err.message;
    }
  }

  const preview = QL.debounce(runPreview, 350);

  async function submit(event) {
    event.preventDefault();
    QL.clearErrors(form);
    const button = document.getElementById("create-job");
    button.disabled = true;
    const reply = await QL.api("POST", "/api/projects", { ...QL.readSettings(form, false), ...configBody() });
    if (reply.ok) {
      window.location.assign(`/projects/${reply.data.id}`);
      return;
    }
    button.disabled = false;
    const message = reply.data.message || `HTTP ${reply.status}`;
    if (!QL.showFieldError(form, message)) {
      document.getElementById("form-error").textContent = message;
    }
  }

  async function start() {
    const reply = await QL.api("GET", "/api/projects/templates");
    document.getElementById("templates-loading").remove();
    if (!reply.ok) {
      picker.append(Object.assign(document.createElement("p"), { className: "error", textContent: reply.data.message }));
      return;
    }
    reply.data.templates.forEach((t, i) => {
      state.templates[t.key] = t;
      picker.append(radio(t.key, t.title, i === 0));
    });
    picker.append(radio(XML, QL.t("Paste Label Studio XML"), false));
    picker.addEventListener("change", (event) => choose(event.target.value));
    optionsBox.addEventListener("input", preview);
    xmlInput.addEventListener("input", preview);
    itemInput.addEventListener("input", preview);
    document.getElementById("next-sample").addEventListener("click", () => {
      state.sample += 1;
      showSample();
      preview();
    });
    form.addEventListener("submit", submit);
    choose(reply.data.templates[0].key);
  }

  start();
})(window.QL);
