{% autoescape off %}/* Muster: an embedded petition. Put the snippet from the organisers' admin on your page; this
   script replaces its link with the petition's form, in an iframe. */
(function () {
  "use strict";
  var ORIGIN = {{ origin_json }};
  var SLUG = {{ slug_json }};
  var READY_WITHIN_MS = 15000;
  var script = document.currentScript;
  if (!script || !window.postMessage || !window.URLSearchParams) {
    return; // an old browser: the plain link stays and still works
  }
  var link = script.previousElementSibling;
  if (!link || !link.hasAttribute("data-muster-embed")) {
    link = null;
  }
  var query = new URLSearchParams();
  var partner = script.getAttribute("data-partner");
  // Like Action Network's embed, the host page's ?source= carries into the widget.
  var source = script.getAttribute("data-source") || new URLSearchParams(window.location.search).get("source");
  if (partner) query.set("partner", partner);
  if (source) query.set("source", source);

  var frame = document.createElement("iframe");
  frame.src = ORIGIN + "/embed/" + encodeURIComponent(SLUG) + "/?" + query.toString();
  frame.title = (link && link.textContent) || "Sign the petition";
  frame.setAttribute("data-muster-frame", SLUG);
  // Height 0 and the link still showing until the frame reports its size: a frame that cannot load
  // (blocked, offline, not allowed on this site) leaves the page as it was.
  frame.style.cssText = "display:block;width:100%;max-width:36rem;height:0;border:0;margin:0;padding:0;overflow:hidden;";
  var ready = false;

  window.addEventListener("message", function (event) {
    if (event.origin !== ORIGIN || event.source !== frame.contentWindow) return;
    var data = event.data;
    if (!data || data.type !== "muster:height" || typeof data.height !== "number") return;
    if (!ready) {
      ready = true;
      if (link) link.style.display = "none";
    }
    frame.style.height = Math.ceil(data.height) + "px";
  });
  script.parentNode.insertBefore(frame, script);
  window.setTimeout(function () {
    if (!ready && frame.parentNode) frame.parentNode.removeChild(frame);
  }, READY_WITHIN_MS);
})();
{% endautoescape %}
