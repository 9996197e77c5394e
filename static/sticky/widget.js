// The rewards widget's only script: copy buttons, and telling a framing WooCommerce page
// how tall the widget is. Everything else works without it.
(function () {
  "use strict";

  function copy(button) {
    var field = document.getElementById(button.getAttribute("data-sr-copy"));
    if (!field) return;
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () {
        field.select();
      });
    } else {
      field.select();
      try { if (document.execCommand("copy")) done(); } catch (e) { /* selected: copy by hand */ }
    }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-sr-copy]");
    if (button) copy(button);
  });

  // Framed by the store's My Account page: say how tall the content is, so the frame fits.
  if (window.parent !== window) {
    var report = function () {
      var height = document.documentElement.scrollHeight;
      window.parent.postMessage({ type: "sticky-rewards:height", height: height }, "*");
    };
    window.addEventListener("load", report);
    window.addEventListener("resize", report);
    report();
  }
})();
