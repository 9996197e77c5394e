/* The segment builder's script. The page works without it (its buttons post the form and
   the server redraws count and preview); it adds:
   - a live count and preview: a moment after each edit the form is posted to
     data-segment-preview and the answer redraws the count, the first customers and each
     condition's refusal next to its value;
   - operators that follow the field: choosing another field offers that field's operators
     and value hint at once (from the page's #segment-fields). */
(function () {
  "use strict";

  function text(tag, value, className) {
    var el = document.createElement(tag);
    el.textContent = value;
    if (className) { el.className = className; }
    return el;
  }

  function show(form, data) {
    var count = document.getElementById("segment-count");
    var message = document.getElementById("segment-message");
    var body = document.querySelector("#segment-preview tbody");
    Array.prototype.forEach.call(form.querySelectorAll("[data-row-value]"), function (input) {
      var box = document.getElementById(input.id + "-error");
      var why = (data.errors || {})[input.name];
      if (box) { box.textContent = why || ""; box.hidden = !why; }
      input.closest(".Field").classList.toggle("Field--error", !!why);
    });
    if (data.count === null || data.count === undefined) {
      count.textContent = "—";
      message.textContent = data.message || "Correct the marked conditions to see the count.";
      message.hidden = false;
      return;
    }
    message.hidden = true;
    count.textContent = data.count.toLocaleString("en-US");
    count.setAttribute("data-count", String(data.count));
    body.textContent = "";
    data.customers.forEach(function (c) {
      var row = document.createElement("tr");
      var who = document.createElement("td");
      var link = text("a", c.name);
      link.href = c.url;
      who.appendChild(link);
      who.appendChild(text("div", c.email, "text-muted text-small"));
      who.appendChild(text("div", "Last order: " + c.last_order_at, "text-muted text-small"));
      row.appendChild(who);
      row.appendChild(text("td", c.total_spent, "numeric"));
      body.appendChild(row);
    });
  }

  function followField(form, fields) {
    form.addEventListener("change", function (event) {
      var select = event.target;
      if (!select.hasAttribute || !select.hasAttribute("data-row-field")) {
        if (select.hasAttribute && select.hasAttribute("data-row-op")) { hint(select); }
        return;
      }
      var row = select.closest(".SegmentRow");
      var ops = row.querySelector("[data-row-op]");
      ops.textContent = "";
      (fields.ops[select.value] || []).forEach(function (pair) {
        var option = text("option", pair[1]);
        option.value = pair[0];
        ops.appendChild(option);
      });
      var help = row.querySelector("[data-field-help]");
      if (help) { help.textContent = select.options[select.selectedIndex].title; }
      hint(ops);
    });
    function hint(ops) {
      var row = ops.closest(".SegmentRow");
      var field = row.querySelector("[data-row-field]").value;
      var value = row.querySelector("[data-row-value]");
      value.placeholder = (fields.placeholders[field] || {})[ops.value] || "";
    }
  }

  function live(form) {
    var url = form.getAttribute("data-segment-preview");
    var box = document.getElementById("segment-live");
    var timer = null;
    var latest = 0;
    function refresh() {
      timer = null;
      var asked = ++latest;
      var body = new FormData(form);
      body.delete("action");
      box.setAttribute("aria-busy", "true");
      fetch(url, {method: "POST", body: body, credentials: "same-origin",
                  headers: {"Accept": "application/json"}})
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (data) { if (asked === latest) { show(form, data); } })
        .catch(function () { /* the Update count button still works */ })
        .then(function () { if (asked === latest) { box.removeAttribute("aria-busy"); } });
    }
    function later() {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(refresh, 300);
    }
    form.addEventListener("input", later);
    form.addEventListener("change", later);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-segment-preview]");
    if (!form) { return; }
    var fields = JSON.parse(document.getElementById("segment-fields").textContent);
    followField(form, fields);
    live(form);
  });
})();
