// Progressive enhancement for the counter page; every flow works without it.
// A form marked data-once is sent once per page: a second tap or Enter while the first
// request is on its way is ignored. The server is still the guard (one-time form tokens).
(function () {
  "use strict";
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("aria-busy") === "true") {
        event.preventDefault();
        return;
      }
      form.setAttribute("aria-busy", "true");
    });
  });
  // Coming back with the Back button restores the page from cache: make it usable again.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      document.querySelectorAll("form[aria-busy]").forEach(function (form) {
        form.removeAttribute("aria-busy");
      });
    }
  });
})();
