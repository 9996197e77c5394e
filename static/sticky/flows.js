/* The flow pages' script. Pages work without it; it adds:
   - fields shown only when they apply: an element with data-show-when="<select id>=<value>"
     is hidden while that select holds another value (the trigger's settings, a wait's
     duration or time of day, the re-entry days);
   - the email editor's live preview: a form with data-email-preview="<url>" posts its fields
   there a moment after each edit and draws the answer (subject, HTML in the sandboxed frame,
   text, and each field's refusal next to it). The page works without it: its Preview button
   does the same on the server. */
(function () {
  "use strict";
  var FIELDS = ["subject", "preheader", "html", "text"];

  function showWhen(element) {
    var rule = element.getAttribute("data-show-when").split("=");
    var select = document.getElementById(rule[0]);
    if (!select) { return; }
    function apply() { element.hidden = select.value !== rule[1]; }
    select.addEventListener("change", apply);
    apply();
  }

  function show(data) {
    var refused = Object.keys(data.errors || {}).length > 0;
    var status = document.getElementById("preview-status");
    if (status) {
      status.textContent = refused ? "The preview shows the last version that rendered: correct the marked field." : "";
      status.hidden = !refused;
    }
    if (!refused) {
      var frame = document.getElementById("email-preview");
      if (frame) { frame.srcdoc = data.html || ""; }
      var subject = document.getElementById("preview-subject");
      if (subject) { subject.textContent = data.subject || ""; }
      var preheader = document.getElementById("preview-preheader");
      if (preheader) { preheader.textContent = data.preheader || ""; }
      var text = document.getElementById("preview-text");
      if (text) { text.textContent = data.text || ""; }
    }
    FIELDS.forEach(function (name) {
      var box = document.getElementById("live-error-" + name);
      if (!box) { return; }
      var why = (data.errors || {})[name];
      box.textContent = why || "";
      box.hidden = !why;
    });
  }

  function live(form) {
    var url = form.getAttribute("data-email-preview");
    var timer = null;
    var latest = 0;
    function refresh() {
      timer = null;
      var asked = ++latest;
      var body = new FormData(form);
      body.delete("action");
      fetch(url, {method: "POST", body: body, credentials: "same-origin",
                  headers: {"Accept": "application/json"}})
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (data) { if (asked === latest) { show(data); } })
        .catch(function () { /* the Preview button still works */ });
    }
    function later() {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(refresh, 300);
    }
    form.addEventListener("input", later);
    form.addEventListener("change", later);
    var customer = document.getElementById("customer_id");
    if (customer && !form.contains(customer)) {
      customer.addEventListener("change", function () {
        var carried = document.querySelector("#test-form input[name=customer_id]");
        if (carried) { carried.value = customer.value; }
        later();
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("[data-show-when]"), showWhen);
    Array.prototype.forEach.call(document.querySelectorAll("form[data-email-preview]"), live);
  });
})();
