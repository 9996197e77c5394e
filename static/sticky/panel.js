/* The panel's little script. Pages work without it (server-rendered); it adds:
   - on embedded pages, a fresh Shopify session token on every form post (`id_token` field),
     from App Bridge's shopify.idToken(); App Bridge itself adds the token to fetch() calls;
   - confirmation for buttons with data-confirm;
   - Sticky.poll(url, onData, {every}) for live progress (history import, exports);
   - Sticky.chart(element) draws the Plotly figure in a <script type="application/json">
     next to a .Chart element;
   - live previews: a form with data-preview="<iframe id>" reloads that iframe with the
     form's fields as its query string (after data-preview-base), a moment after each edit. */
(function () {
  "use strict";
  var embedded = document.body.classList.contains("embedded");

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var submitter = event.submitter;
    var question = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); return; }
    if (!embedded || (form.method || "get").toLowerCase() !== "post" || form.dataset.tokenAdded) { return; }
    if (!window.shopify || typeof window.shopify.idToken !== "function") { return; }
    event.preventDefault();
    window.shopify.idToken().then(function (token) {
      var input = form.querySelector("input[name=id_token]");
      if (!input) {
        input = document.createElement("input");
        input.type = "hidden"; input.name = "id_token";
        form.appendChild(input);
      }
      input.value = token;
      if (submitter && submitter.name) {
        var carry = document.createElement("input");
        carry.type = "hidden"; carry.name = submitter.name; carry.value = submitter.value;
        form.appendChild(carry);
      }
      form.dataset.tokenAdded = "1";
      form.submit();
    });
  });

  function poll(url, onData, options) {
    var every = (options && options.every) || 2000;
    var stopped = false;
    function again(delay) { if (!stopped) { setTimeout(tick, delay); } }
    function tick() {
      fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (data) {
          if (onData(data) === false) { stopped = true; } else { again(every); }
        })
        .catch(function (error) {
          if (options && options.onError) { options.onError(error); }
          again(every * 5);
        });
    }
    tick();
    return { stop: function () { stopped = true; } };
  }

  function chart(element) {
    var source = document.getElementById(element.getAttribute("data-figure"));
    if (!source || !window.Plotly) { return; }
    var figure = JSON.parse(source.textContent);
    var layout = Object.assign({
      margin: {l: 48, r: 16, t: 8, b: 36}, paper_bgcolor: "rgba(0,0,0,0)",
      plot_bgcolor: "rgba(0,0,0,0)", font: {family: "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, sans-serif", size: 12, color: "#303030"},
      xaxis: {gridcolor: "#ebebeb"}, yaxis: {gridcolor: "#ebebeb", rangemode: "tozero"},
      legend: {orientation: "h", y: -0.2}, hovermode: "x unified"
    }, figure.layout || {});
    window.Plotly.newPlot(element, figure.data, layout, {displayModeBar: false, responsive: true});
  }

  // The fields a preview is given: what the form would post, without its credentials.
  var NOT_PREVIEWED = {"csrf_token": true, "id_token": true};

  function previewUrl(form, frame) {
    var base = frame.getAttribute("data-preview-base");
    var query = new URLSearchParams();
    new FormData(form).forEach(function (value, name) {
      if (!NOT_PREVIEWED[name] && typeof value === "string") { query.append(name, value); }
    });
    return base + (base.indexOf("?") === -1 ? "?" : "&") + query.toString();
  }

  function livePreview(form) {
    var frame = document.getElementById(form.getAttribute("data-preview"));
    if (!frame) { return; }
    var timer = null;
    function refresh() {
      timer = null;
      var url = previewUrl(form, frame);
      if (url !== frame.getAttribute("src")) { frame.setAttribute("src", url); }
    }
    function later() {
      if (timer) { clearTimeout(timer); }
      timer = setTimeout(refresh, 400);  // one reload when typing pauses, not one a key
    }
    form.addEventListener("input", later);
    form.addEventListener("change", later);
  }

  window.Sticky = { poll: poll, chart: chart, embedded: embedded, previewUrl: previewUrl };
  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll(".Chart[data-figure]"), chart);
    Array.prototype.forEach.call(document.querySelectorAll("form[data-preview]"), livePreview);
  });
})();
