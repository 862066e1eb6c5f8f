/* QL.t(message, values): a UI message in the user's language, from the catalog the page embeds
   (#ql-i18n, built from i18n/translations); {name} placeholders are filled from `values`. */
"use strict";

window.QL = window.QL || {};
(function (QL) {
  const source = document.getElementById("ql-i18n");
  const catalog = source ? JSON.parse(source.textContent) : {};
  QL.t = function (message, values) {
    const text = catalog[message] || message;
    return values ? text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole)) : text;
  };
})(window.QL);
