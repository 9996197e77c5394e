// Adds the signed-in shopper's points to the launcher. The link works without this script.
// The JSON comes through the same app proxy (the store's own origin), signed by Shopify.
(function () {
  "use strict";
  var launcher = document.querySelector("[data-sticky-rewards-url]");
  var badge = launcher && launcher.querySelector("[data-sticky-points]");
  if (!badge || !window.fetch) return;
  fetch(launcher.getAttribute("data-sticky-rewards-url") + "?format=json", { credentials: "same-origin" })
    .then(function (response) { return response.ok ? response.json() : null; })
    .then(function (view) {
      if (!view || typeof view.points_balance !== "number") return;
      var label = launcher.getAttribute("data-sticky-points-label") || "points";
      badge.textContent = view.points_balance.toLocaleString() + " " + label;
      badge.hidden = false;
    })
    .catch(function () { /* the link still works */ });
})();
