// Member portal: install the service worker that keeps the membership card for offline use,
// and stop a confirmation form from being sent twice by a double tap. Pages work without it.
(function () {
  "use strict";
  if ("serviceWorker" in navigator && window.isSecureContext) {
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/portal-sw.js", { scope: "/" }).catch(function () {});
    });
  }
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("aria-busy") === "true") {
        event.preventDefault();
        return;
      }
      form.setAttribute("aria-busy", "true");
    });
  });
})();
