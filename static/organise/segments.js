// The segment builder: conditions chosen from menus, in groups of all / any / none, written
// into the form's definition field (JSON, which is how a segment is stored) on every change,
// and counted by the server as you go. Without this script the form still saves, with the
// definition edited as JSON; with it, nobody has to read or type JSON.
(function () {
  "use strict";
  var dataNode = document.getElementById("segment-builder-data");
  var root = document.getElementById("segment-builder");
  var field = document.getElementById("id_definition");
  if (!dataNode || !root || !field) return;
  var data = JSON.parse(dataNode.textContent);
  var T = data.text;
  var byName = {};
  data.conditions.forEach(function (c) { byName[c.name] = c; });
  var basis = document.getElementById("segment-basis");
  var summary = document.getElementById("segment-summary");
  var countBox = document.getElementById("segment-count");
  var sample = document.querySelector("#segment-sample tbody");
  var csrf = document.querySelector("#segment-form input[name=csrfmiddlewaretoken]").value;
  var MAX_GROUP_DEPTH = 3; // groups inside groups, below the top one
  var nextId = 0;
  var tree;

  // --- The tree: {type: "group", op: all|any|none, items: [...]} or
  //     {type: "condition", name, values: {param: value}} -------------------------------------

  function group(op, items) { return { type: "group", id: ++nextId, op: op, items: items }; }
  function condition(name, values) { return { type: "condition", id: ++nextId, name: name, values: values || {} }; }

  function isObject(value) { return value !== null && typeof value === "object" && !Array.isArray(value); }

  // The definition as a tree, or null for one the menus cannot show (it stays JSON).
  function parse(def) {
    if (!isObject(def)) return null;
    if ("condition" in def) {
      if (!byName[def.condition]) return null;
      var values = {};
      Object.keys(def).forEach(function (key) { if (key !== "condition") values[key] = def[key]; });
      return condition(def.condition, values);
    }
    var keys = Object.keys(def);
    if (keys.length !== 1) return null;
    var op = keys[0], operand = def[op];
    if ((op === "all" || op === "any") && Array.isArray(operand)) return parseItems(op, operand);
    if (op === "not") {
      // "none of these" is stored as not(any(...)); not(one thing) reads as "none of" it.
      if (isObject(operand) && Array.isArray(operand.any) && Object.keys(operand).length === 1) {
        return parseItems("none", operand.any);
      }
      var inner = parse(operand);
      return inner ? group("none", [inner]) : null;
    }
    return null;
  }

  function parseItems(op, list) {
    var items = list.map(parse);
    return items.every(Boolean) ? group(op, items) : null;
  }

  // The tree as a definition. A condition not chosen yet, or a group with nothing in it, is
  // left out, so a half-made row never turns the count into an error.
  function serialize(node, top) {
    if (node.type === "condition") {
      if (!node.name) return null;
      var out = { condition: node.name };
      Object.keys(node.values).forEach(function (key) {
        var value = node.values[key];
        if (value !== "" && value !== null && value !== undefined) out[key] = value;
      });
      return out;
    }
    var items = node.items.map(function (item) { return serialize(item, false); }).filter(Boolean);
    if (!items.length) return top ? { all: [] } : null;
    if (node.op === "none") return { not: items.length === 1 ? items[0] : { any: items } };
    var result = {};
    result[node.op] = items;
    return result;
  }

  // --- Drawing --------------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === "text") node.textContent = attrs[key];
      else if (key === "className") node.className = attrs[key];
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function button(text, className, onClick, hiddenText) {
    var b = el("button", { type: "button", className: className }, [document.createTextNode(text)]);
    if (hiddenText) b.appendChild(el("span", { className: "visually-hidden", text: " " + hiddenText }));
    b.addEventListener("click", onClick);
    return b;
  }

  function options(select, list, current, blank) {
    select.appendChild(el("option", { value: "", text: blank }));
    var groups = {}, found = false;
    list.forEach(function (option) {
      var parent = select;
      if (option.group) {
        parent = groups[option.group] || (groups[option.group] = select.appendChild(el("optgroup", { label: option.group })));
      }
      var node = el("option", { value: option.value, text: option.label });
      if (String(current) === option.value) { node.selected = true; found = true; }
      parent.appendChild(node);
    });
    if (current !== undefined && current !== "" && !found) {
      // A value the menu no longer offers (an imported segment, an area gone): keep it.
      var kept = el("option", { value: String(current), text: String(current) });
      kept.selected = true;
      select.appendChild(kept);
    }
  }

  function drawParam(node, param) {
    var id = "seg-" + node.id + "-" + param.key;
    var value = node.values[param.key];
    var label = el("label", { "for": id, text: param.label });
    var input;
    if (param.kind === "choice") {
      input = el("select", { id: id });
      options(input, param.options, value, param.required ? T.choose_value : param.blank_label || T.choose_value);
    } else {
      input = el("input", { id: id, type: param.kind === "date" ? "date" : param.kind === "number" ? "number" : "text" });
      if (param.kind === "number") {
        input.setAttribute("min", param.minimum);
        input.setAttribute("max", param.maximum);
        input.setAttribute("inputmode", "numeric");
      }
      input.value = value === undefined ? "" : String(value);
    }
    var changed = function () {
      var v = input.value;
      if (param.kind === "number" && /^[0-9]{1,6}$/.test(v)) v = parseInt(v, 10);
      node.values[param.key] = v;
      changedTree();
    };
    input.addEventListener("change", changed);
    if (input.tagName === "INPUT") input.addEventListener("input", changed);
    return el("div", { className: "field seg-param" }, [label, input]);
  }

  function drawCondition(node, parent, index) {
    var id = "seg-" + node.id;
    var select = el("select", { id: id });
    select.appendChild(el("option", { value: "", text: T.choose }));
    var sections = {};
    data.conditions.forEach(function (c) {
      var section = sections[c.group] || (sections[c.group] = select.appendChild(el("optgroup", { label: c.group })));
      var option = el("option", { value: c.name, text: c.label });
      if (c.name === node.name) option.selected = true;
      section.appendChild(option);
    });
    select.addEventListener("change", function () {
      node.name = select.value;
      node.values = {};
      redraw(id);
    });
    var number = T.condition + " " + (index + 1);
    var parts = [
      el("legend", { className: "visually-hidden", text: number }),
      el("div", { className: "field seg-choose" }, [el("label", { "for": id, text: T.condition }), select]),
    ];
    var spec = byName[node.name];
    if (spec) spec.params.forEach(function (param) { parts.push(drawParam(node, param)); });
    parts.push(button(T.remove, "seg-remove", function () {
      parent.items.splice(parent.items.indexOf(node), 1);
      redraw("seg-add-" + parent.id);
    }, number));
    return el("li", { className: "seg-condition" }, [el("fieldset", {}, parts)]);
  }

  function drawGroup(node, depth, parent, index) {
    var opId = "seg-op-" + node.id;
    var op = el("select", { id: opId });
    ["all", "any", "none"].forEach(function (name) {
      var option = el("option", { value: name, text: T[name] + " " + T.these });
      if (node.op === name) option.selected = true;
      op.appendChild(option);
    });
    op.addEventListener("change", function () { node.op = op.value; changedTree(); });
    var legend = depth === 0 ? T.match : T.group + " " + (++groupsDrawn); // in reading order
    var list = el("ul", { className: "seg-items" });
    node.items.forEach(function (item, i) {
      list.appendChild(item.type === "group" ? el("li", { className: "seg-subgroup" }, [drawGroup(item, depth + 1, node, i)])
        : drawCondition(item, node, i));
    });
    var buttons = [button(T.add_condition, "seg-add", function () {
      var added = condition("", {});
      node.items.push(added);
      redraw("seg-" + added.id);
    })];
    buttons[0].id = "seg-add-" + node.id;
    if (depth < MAX_GROUP_DEPTH) {
      buttons.push(button(T.add_group, "seg-add-group", function () {
        var added = group("any", [condition("", {})]);
        node.items.push(added);
        redraw("seg-op-" + added.id);
      }));
    }
    if (parent) {
      buttons.push(button(T.remove_group, "seg-remove", function () {
        parent.items.splice(parent.items.indexOf(node), 1);
        redraw("seg-add-" + parent.id);
      }, legend));
    }
    return el("fieldset", { className: "seg-group", "data-depth": depth }, [
      el("legend", { text: legend }),
      el("div", { className: "field seg-op" }, [el("label", { "for": opId, text: T.match_how }), op]),
      node.items.length ? list : el("p", { className: "hint", text: T.empty }),
      el("div", { className: "seg-buttons" }, buttons),
    ]);
  }

  var groupsDrawn = 0;

  function redraw(focusId) {
    groupsDrawn = 0;
    root.replaceChildren(drawGroup(tree, 0, null, 0));
    if (focusId) {
      var target = document.getElementById(focusId);
      if (target) target.focus();
    }
    changedTree();
  }

  // --- The definition field and the count -----------------------------------------------------

  var timer = null, asked = 0;

  function changedTree() {
    field.value = JSON.stringify(serialize(tree, true));
    clearTimeout(timer);
    timer = setTimeout(count, 350);
  }

  function showCounts(matching, eligible) {
    countBox.querySelector("[data-count=matching]").textContent = matching === null ? "–" : matching.toLocaleString("en-GB");
    countBox.querySelector("[data-count=eligible]").textContent =
      eligible === null || eligible === undefined ? "–" : eligible.toLocaleString("en-GB");
  }

  function showSample(people) {
    sample.replaceChildren();
    if (!people.length) {
      sample.appendChild(el("tr", {}, [el("td", { colspan: "3", text: T.no_sample })]));
      return;
    }
    people.forEach(function (person) {
      sample.appendChild(el("tr", {}, [
        el("td", { text: person.name }), el("td", { text: person.email }), el("td", { text: person.postcode }),
      ]));
    });
  }

  function count() {
    var mine = ++asked;
    countBox.setAttribute("aria-busy", "true");
    countBox.classList.remove("seg-error");
    fetch(root.getAttribute("data-count-url"), {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ definition: JSON.parse(field.value), basis: basis ? basis.value : "" }),
    }).then(function (response) {
      return response.json().then(function (body) { return { ok: response.ok, body: body }; });
    }).then(function (answer) {
      if (mine !== asked) return; // a later edit has asked again
      countBox.removeAttribute("aria-busy");
      if (!answer.ok) {
        countBox.classList.add("seg-error");
        showCounts(null, null);
        summary.textContent = answer.body.error || T.failed;
        return;
      }
      showCounts(answer.body.matching, answer.body.eligible);
      summary.textContent = answer.body.summary;
      showSample(answer.body.sample || []);
    }).catch(function () {
      if (mine !== asked) return;
      countBox.removeAttribute("aria-busy");
      countBox.classList.add("seg-error");
      summary.textContent = T.failed;
    });
  }

  // --- Start ----------------------------------------------------------------------------------

  var stored;
  try { stored = JSON.parse(field.value || '{"all": []}'); } catch (e) { stored = null; }
  tree = parse(stored);
  if (tree && tree.type === "condition") tree = group("all", [tree]);
  if (!tree) {
    // A definition the menus cannot show: edited as JSON, counted all the same.
    field.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(countJson, 350); });
    countJson();
    return;
  }
  document.getElementById("segment-json").hidden = true;
  var nojs = root.querySelector(".segment-nojs");
  if (nojs) nojs.remove();
  if (basis) basis.addEventListener("change", count);
  redraw(null);

  function countJson() {
    try { JSON.parse(field.value); } catch (e) { summary.textContent = T.failed; return; }
    count();
  }
})();
