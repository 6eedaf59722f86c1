// The portal's only script besides htmx: copy buttons and confirmation prompts (no inline handlers).
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var copy = event.target.closest("[data-copy]");
    if (copy) {
      var text = document.getElementById(copy.getAttribute("data-copy")).textContent.trim();
      navigator.clipboard.writeText(text).then(function () {
        copy.textContent = "Copied";
        setTimeout(function () { copy.textContent = "Copy"; }, 1500);
      });
    }
  });
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });
  // Providers refuse to be framed: inside an iframe, an OAuth consent opens in a new tab instead of the frame.
  if (window.top !== window.self) {
    document.addEventListener("DOMContentLoaded", function () {
      document.querySelectorAll("form[data-oauth]").forEach(function (form) { form.target = "_blank"; });
    });
  }
  // htmx requests carry the CSRF token of the page.
  document.addEventListener("htmx:configRequest", function (event) {
    var token = document.querySelector("meta[name=csrf-token]");
    if (token) { event.detail.headers["X-CSRFToken"] = token.getAttribute("content"); }
  });
})();
