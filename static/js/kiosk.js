/* The kiosk keypad without a round trip per key; the page works the same without this file.
 *
 * With the script, the keypad's buttons edit the phone field in place, the device keyboard
 * stays closed (inputmode "none"; a hardware keyboard still types), and a number left
 * half-typed is cleared after a while so the next customer starts with an empty field.
 */
(function () {
  "use strict";

  var form = document.querySelector("[data-kiosk-keypad]");
  if (!form) {
    return;
  }
  var input = form.querySelector("input[name='phone']");
  var IDLE_MS = 30000;
  var idleTimer = null;

  function clearError() {
    var error = document.getElementById("phone-error");
    if (error) {
      error.remove();
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    }
  }

  function resetSoon() {
    window.clearTimeout(idleTimer);
    if (input.value) {
      idleTimer = window.setTimeout(function () {
        input.value = "";
        clearError();
      }, IDLE_MS);
    }
  }

  function press(key) {
    var value = input.value;
    var max = parseInt(input.getAttribute("maxlength") || "24", 10);
    if (/^[0-9]$/.test(key)) {
      if (value.length < max) {
        value += key;
      }
    } else if (key === "delete") {
      value = value.slice(0, -1);
    } else if (key === "clear") {
      value = "";
    }
    input.value = value;
    clearError();
    resetSoon();
  }

  input.setAttribute("inputmode", "none");
  input.addEventListener("input", resetSoon);

  form.addEventListener("click", function (event) {
    var button = event.target.closest("button[name='key']");
    if (!button || !form.contains(button)) {
      return;
    }
    event.preventDefault();
    press(button.value);
  });

  form.addEventListener("submit", function (event) {
    if (form.getAttribute("aria-busy") === "true") {
      // A second tap on "Check in" while the first is on its way.
      event.preventDefault();
      return;
    }
    form.setAttribute("aria-busy", "true");
  });

  // Back from the thank-you screen with the browser's cache: start empty.
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      input.value = "";
      form.removeAttribute("aria-busy");
    }
  });

  resetSoon();
})();
