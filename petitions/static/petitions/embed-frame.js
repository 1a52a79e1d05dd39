/* Inside the embed's iframe: tell the partner's page our height as it changes, and keep the count
   live. Sends only a number; the parent's script checks that it comes from this origin. */
(function () {
  "use strict";
  if (window.parent === window) return; // opened on its own, not embedded
  var body = document.body;
  var last = -1;

  function report() {
    var height = Math.ceil(document.documentElement.getBoundingClientRect().height);
    if (height !== last) {
      last = height;
      window.parent.postMessage({ type: "muster:height", slug: body.getAttribute("data-slug"), height: height }, "*");
    }
  }

  if (window.ResizeObserver) {
    new ResizeObserver(report).observe(document.documentElement);
  } else {
    window.addEventListener("resize", report);
  }
  window.addEventListener("load", report);
  report();

  var counts = document.querySelectorAll("[data-count]");
  var words = document.querySelectorAll("[data-count-words]");
  var plural = window.Intl && Intl.PluralRules ? new Intl.PluralRules(document.documentElement.lang || "en") : null;
  var url = body.getAttribute("data-count-url");
  function refresh() {
    if (!counts.length || !url || document.hidden) return;
    fetch(url, { credentials: "omit" })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) return;
        for (var i = 0; i < counts.length; i++) counts[i].textContent = data.signature_count;
        // "1 signature", "2 signatures": the words follow the new count, not the one rendered.
        var form = plural ? plural.select(data.signature_count) : (data.signature_count === 1 ? "one" : "other");
        for (var j = 0; j < words.length; j++) {
          words[j].textContent = words[j].getAttribute("data-" + form) || words[j].getAttribute("data-other");
        }
      })
      .catch(function () {});
  }
  window.setInterval(refresh, 30000);
  document.addEventListener("visibilitychange", refresh);
})();
