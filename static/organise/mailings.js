// The mailing pages' live parts, each on top of a page that works without them (plain fetch,
// no framework): the message's live preview, the merge-field picker, "preview as", the
// audience's count, and the progress of a mailing that is going out.
(function () {
  "use strict";

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      var args = arguments, self = this;
      clearTimeout(timer);
      timer = setTimeout(function () { fn.apply(self, args); }, ms);
    };
  }

  function csrfToken(form) {
    var input = form && form.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function format(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_, key) { return values[key] == null ? "" : values[key]; });
  }

  function grouped(n) {
    return typeof n === "number" ? n.toLocaleString(document.documentElement.lang || undefined) : n;
  }

  // --- The message: live preview, merge fields, preview as a recipient -------------------------

  function livePreview(form) {
    var url = form.dataset.previewUrl;
    var status = document.getElementById("preview-status");
    var frames = [document.getElementById("preview-desktop"), document.getElementById("preview-phone")];
    var subject = document.getElementById("preview-subject");
    var preheader = document.getElementById("preview-preheader");
    var text = document.getElementById("preview-text");
    var asInput = document.getElementById("preview-as-id");
    var sent = 0;

    function fields() {
      var value = function (name) { var el = form.elements[name]; return el ? el.value : ""; };
      return { sender: value("sender"), subject: value("subject"), preheader: value("preheader"),
               body: value("body"), as: asInput ? asInput.value : "" };
    }

    function refresh() {
      var mine = ++sent;
      fetch(url, { method: "POST", credentials: "same-origin",
                   headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(form), "Accept": "application/json" },
                   body: JSON.stringify(fields()) })
        .then(function (r) { return r.json().then(function (data) { return { ok: r.ok, data: data }; }); })
        .then(function (answer) {
          if (mine !== sent) return; // a later keystroke's answer is coming
          if (!answer.ok) { status.textContent = answer.data.error || ""; return; }
          var data = answer.data;
          frames.forEach(function (frame) { if (frame) frame.srcdoc = data.html; });
          subject.textContent = data.subject;
          preheader.textContent = data.preheader;
          if (text) text.textContent = data.text;
          status.textContent = data.as_problem || "";
          form.dispatchEvent(new CustomEvent("muster:previewed", { bubbles: true }));
        })
        .catch(function () { if (mine === sent) status.textContent = form.dataset.offline || ""; });
    }

    var later = debounce(refresh, 300);
    form.addEventListener("input", later);
    form.addEventListener("change", later);
    form.musterPreview = refresh;
  }

  function mergePicker(form) {
    var picker = form.querySelector("[data-merge-picker]");
    var body = form.elements.body;
    if (!picker || !body) return;
    picker.hidden = false;
    picker.querySelector("[data-insert-merge]").addEventListener("click", function () {
      var tag = picker.querySelector("select").value;
      var start = body.selectionStart, end = body.selectionEnd;
      if (typeof start !== "number") { start = end = body.value.length; }
      body.value = body.value.slice(0, start) + tag + body.value.slice(end);
      body.focus();
      body.setSelectionRange(start + tag.length, start + tag.length);
      body.dispatchEvent(new Event("input", { bubbles: true }));
    });
  }

  function previewAs(search, form) {
    var input = search.querySelector("input[type=search]");
    var results = document.getElementById("preview-as-results");
    var asInput = document.getElementById("preview-as-id");
    var label = document.querySelector("[data-as-label]");
    var clear = document.querySelector("[data-as-clear]");

    function choose(id, email) {
      asInput.value = id || "";
      if (label) label.textContent = id ? format(label.dataset.template, { email: email }) : label.dataset.none;
      if (clear) clear.hidden = !id;
      if (form.musterPreview) form.musterPreview();
    }

    function show(people) {
      results.textContent = "";
      people.forEach(function (person) {
        var li = document.createElement("li");
        var button = document.createElement("button");
        button.type = "button";
        button.className = "link-like";
        button.textContent = (person.name ? person.name + " " : "") + "<" + person.email + ">";
        button.addEventListener("click", function () { choose(String(person.id), person.email); });
        li.appendChild(button);
        results.appendChild(li);
      });
    }

    function find() {
      var q = input.value.trim();
      if (!q) { show([]); return; }
      fetch(search.dataset.recipientsUrl + "?q=" + encodeURIComponent(q), { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (data) { if (input.value.trim() === q) show(data.results || []); })
        .catch(function () {});
    }

    search.addEventListener("submit", function (event) { event.preventDefault(); find(); });
    input.addEventListener("input", debounce(find, 300));
    results.addEventListener("click", function (event) {
      var link = event.target.closest("a[data-as-id]");
      if (!link) return;
      event.preventDefault();
      choose(link.dataset.asId, link.dataset.asEmail);
    });
    if (clear) clear.addEventListener("click", function () { choose("", ""); });
  }

  function previewWidths() {
    var choice = document.querySelector("[data-preview-widths]");
    if (!choice) return;
    choice.hidden = false;
    function apply() {
      var wanted = choice.querySelector("input:checked").value;
      document.querySelectorAll("[data-frame]").forEach(function (box) { box.hidden = box.dataset.frame !== wanted; });
    }
    choice.addEventListener("change", apply);
    apply();
  }

  // --- The audience: the count as the choice changes ------------------------------------------

  function audienceCount(form) {
    var out = document.getElementById("audience-count");
    function refresh() {
      var basis = form.querySelector("input[name=mailing_list]:checked");
      var params = "segment=" + encodeURIComponent(form.elements.segment.value) + "&list=" + encodeURIComponent(basis ? basis.value : "");
      fetch(form.dataset.countUrl + "?" + params, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          out.textContent = "";
          var strong = document.createElement(data.error ? "span" : "strong");
          strong.textContent = data.error || data.label;
          if (data.error) strong.className = "error";
          out.appendChild(strong);
          if (data.detail) { out.appendChild(document.createTextNode(" " + data.detail)); }
        })
        .catch(function () {});
    }
    form.addEventListener("change", refresh);
  }

  // --- The progress: poll, and rewrite the figures in place -------------------------------------

  function progress(panel) {
    var url = panel.dataset.url;
    var interval = parseInt(panel.dataset.interval, 10) || 1500;
    var bar = document.getElementById("mailing-progress-bar");
    var samples = []; // [time, done] of recent polls: the rate now, not since the start

    function rateNow(done) {
      var now = Date.now();
      samples.push([now, done]);
      while (samples.length > 2 && now - samples[0][0] > 30000) samples.shift();
      if (samples.length < 2) return null;
      var first = samples[0], seconds = (now - first[0]) / 1000;
      return seconds > 0 ? (done - first[1]) / seconds : null;
    }

    function eta(seconds) {
      if (seconds == null || !isFinite(seconds)) return panel.dataset.none;
      if (seconds < 60) return panel.dataset.secondsTemplate;
      var minutes = Math.round(seconds / 60), hours = Math.round(seconds / 3600);
      if (seconds < 5400) return minutes === 1 ? panel.dataset.minuteTemplate : format(panel.dataset.minutesTemplate, { n: minutes });
      return hours === 1 ? panel.dataset.hourTemplate : format(panel.dataset.hoursTemplate, { n: hours });
    }

    function render(p) {
      bar.value = p.percent;
      bar.textContent = p.percent + "%";
      document.querySelectorAll("[data-k]").forEach(function (node) {
        var key = node.dataset.k;
        if (key === "rate" || key === "eta") return;
        if (key === "unknown_reason") { node.textContent = p.unknown_reason; node.hidden = !p.unknown_reason; return; }
        if (key in p) node.textContent = grouped(p[key]);
      });
      var perSecond = rateNow(p.done);
      if (perSecond == null && p.rate_per_minute != null) perSecond = p.rate_per_minute / 60;
      var left = p.queued + p.in_flight;
      var rateNode = panel.querySelector("[data-k=rate]"), etaNode = panel.querySelector("[data-k=eta]");
      rateNode.textContent = perSecond == null ? panel.dataset.none
        : format(panel.dataset.rateTemplate, { rate: grouped(Math.round(perSecond * 60)) });
      etaNode.textContent = p.status !== "sending" ? panel.dataset.none
        : left === 0 ? panel.dataset.nothingLeft
        : (perSecond > 0 ? eta(left / perSecond) : eta(p.seconds_left));
      var problems = document.getElementById("problems"), list = document.getElementById("problem-list");
      list.textContent = "";
      (p.problems || []).forEach(function (problem) {
        var li = document.createElement("li"), strong = document.createElement("strong");
        strong.textContent = problem.status_label;
        li.appendChild(strong);
        li.appendChild(document.createTextNode(": " + problem.email + (problem.error ? " — " + problem.error : "")));
        list.appendChild(li);
      });
      problems.hidden = !(p.problems || []).length;
      // Offer the actions this state allows, without reloading the page.
      panel.querySelectorAll("form[data-when]").forEach(function (form) {
        var when = form.dataset.when.split(" ");
        var show = when.indexOf(p.status) >= 0 || (when.indexOf("starting") >= 0 && p.starting)
          || (when.indexOf("unknown") >= 0 && p.unknown > 0);
        if (when.indexOf("starting") >= 0 && !p.starting) show = false;
        form.hidden = !show;
      });
      document.querySelectorAll(".status[class*=status-]").forEach(function (badge) {
        badge.className = "status status-" + p.status;
        badge.textContent = p.status_label;
      });
      document.getElementById("finished-note").hidden = p.live;
      panel.dataset.status = p.status;
    }

    function poll() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (p) {
          render(p);
          if (p.live || p.unknown > 0) setTimeout(poll, interval);
        })
        .catch(function () { setTimeout(poll, interval * 4); });
    }

    var status = panel.dataset.status;
    if (status === "scheduled" || status === "sending" || status === "paused") setTimeout(poll, interval);
  }

  function start() {
    var form = document.querySelector("form[data-live-preview]");
    if (form) {
      livePreview(form);
      mergePicker(form);
      var search = document.querySelector("form[data-preview-as]");
      if (search) previewAs(search, form);
      previewWidths();
    }
    var audience = document.querySelector("form[data-audience]");
    if (audience) audienceCount(audience);
    var panel = document.querySelector("[data-progress]");
    if (panel) progress(panel);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
