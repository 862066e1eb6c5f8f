/* The Label Studio editor (npm @heartexlabs/label-studio 1.4.0, served under /vendor) mounted in our
   own pages. Each mount gets a fresh element, so a re-render never fights the previous instance. */
"use strict";

window.QL = window.QL || {};

(function (QL) {
  // "topbar" must be listed in 1.4.0 or the annotation controls do not appear at all. A preview
  // leaves out submit/update/skip: nothing is saved from it.
  const PREVIEW_INTERFACES = ["panel", "controls", "side-column", "topbar", "annotations:menu",
                              "annotations:add-new", "annotations:delete", "predictions:menu"];
  let counter = 0;

  /* Render `config` on one task's `data` inside `host`; returns {destroy()}. Optional: `taskId`,
     `onLoad()` once the editor is ready, `onSubmit(result)`, and `onUpdate(result)` when an
     annotation already sent is sent again (the editor's Update button, or Ctrl+Enter). */
  QL.mountEditor = function (host, { config, data, user, interfaces, taskId, onLoad, onSubmit, onUpdate }) {
    if (typeof window.LabelStudio !== "function") {
      throw new Error(QL.t("The Label Studio editor is not installed (run bin/setup)"));
    }
    const root = document.createElement("div");
    root.id = `ls-editor-${++counter}`;
    root.className = "ls-root";
    host.replaceChildren(root);
    const instance = new window.LabelStudio(root, {
      config,
      interfaces: interfaces || PREVIEW_INTERFACES,
      user: user || { pk: 1, firstName: "预览", lastName: "Preview" },
      task: { id: taskId || counter, data, annotations: [], predictions: [] },
      onLabelStudioLoad(LS) {
        // An empty annotation, selected, so the page opens ready to label.
        const annotation = LS.annotationStore.addAnnotation({ userGenerate: true });
        LS.annotationStore.selectAnnotation(annotation.id);
        host.dataset.ready = String(counter);
        if (onLoad) onLoad();
      },
      onSubmitAnnotation(LS, annotation) {
        if (onSubmit) onSubmit(annotation.serializeAnnotation());
      },
      onUpdateAnnotation(LS, annotation) {
        if (onUpdate) onUpdate(annotation.serializeAnnotation());
      },
    });
    return {
      destroy() {
        try {
          instance.destroy();
        } catch (err) {
          // A mount still loading has nothing to unmount yet; its element is dropped below anyway.
        }
        root.remove();
        delete host.dataset.ready;
      },
    };
  };
})(window.QL);
