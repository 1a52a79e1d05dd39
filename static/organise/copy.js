// "Copy the code" buttons: copy the named field's text and say so in the status beside it.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var field = document.getElementById(button.dataset.copy);
    var status = button.parentNode.querySelector(".copy-status");
    function done(message) { if (status) status.textContent = message; }
    var copied = button.dataset.copied || "Copied.";
    var failed = button.dataset.failed || "Press Ctrl+C (or ⌘C) to copy the selected code.";
    field.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(function () { done(copied); }, function () { done(failed); });
    } else {
      try { done(document.execCommand("copy") ? copied : failed); } catch (e) { done(failed); }
    }
  });
})();
