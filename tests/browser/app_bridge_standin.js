/* A stand-in for Shopify's App Bridge (https://cdn.shopify.com/shopifycloud/app-bridge.js) in
   the browser tests, which serve it in place of the CDN script (tests/browser/support.py,
   Network). It does what Sticky relies on App Bridge for, as shopify.dev documents it:

   - reads the app's client id from <meta name="shopify-api-key"> or the script tag's
     data-api-key (App Bridge needs one; a page without it is recorded in __standin.errors);
   - shopify.idToken(): a Promise of a fresh session token (an HS256 JWT for the test's
     store), minted by the test in Python through the __standinMintIdToken binding;
   - wraps window.fetch: a request to the app's own origin gets `Authorization: Bearer
     <fresh token>` (the "Resource Fetching API"); an answer carrying
     `X-Shopify-Retry-Invalid-Session-Request: 1` is retried once with a new token;
   - on the "patch id token" page (a query with `shopify-reload=<path>`), fetches a token and
     navigates to that path with `id_token=<token>` added, as App Bridge does.

   What it did is kept in window.__standin for the test to read: fetches (url, method,
   authorization, status), tokens minted, errors. */
(function () {
  "use strict";
  var state = window.__standin = { fetches: [], tokens: 0, errors: [], reloadedTo: null };

  var meta = document.querySelector('meta[name="shopify-api-key"]');
  var script = document.currentScript;
  var apiKey = (meta && meta.content) || (script && script.getAttribute("data-api-key")) || "";
  if (!apiKey) { state.errors.push("no shopify-api-key meta tag or data-api-key attribute"); }

  function idToken() {
    if (typeof window.__standinMintIdToken !== "function") {
      state.errors.push("the test did not expose __standinMintIdToken");
      return Promise.reject(new Error("App Bridge stand-in: no token source"));
    }
    return Promise.resolve(window.__standinMintIdToken()).then(function (token) {
      state.tokens += 1;
      return token;
    });
  }

  var realFetch = window.fetch.bind(window);

  function authenticatedFetch(input, init, retried) {
    var request = new Request(input, init);
    var url = new URL(request.url, window.location.href);
    if (url.origin !== window.location.origin) { return realFetch(request); }
    var retry = request.clone();
    return idToken().then(function (token) {
      var headers = new Headers(request.headers);
      headers.set("Authorization", "Bearer " + token);
      var record = { url: url.pathname + url.search, method: request.method,
                     authorization: "Bearer " + token, status: null, retried: !!retried };
      state.fetches.push(record);
      return realFetch(new Request(request, { headers: headers })).then(function (response) {
        record.status = response.status;
        if (!retried && response.headers.get("X-Shopify-Retry-Invalid-Session-Request") === "1") {
          return authenticatedFetch(retry, undefined, true);
        }
        return response;
      });
    });
  }

  window.fetch = function (input, init) { return authenticatedFetch(input, init, false); };

  var query = new URLSearchParams(window.location.search);
  window.shopify = {
    idToken: idToken,
    config: { apiKey: apiKey, shop: query.get("shop"), host: query.get("host") },
    __standin: true
  };

  var reload = query.get("shopify-reload");
  if (reload) {
    idToken().then(function (token) {
      var target = new URL(reload, window.location.origin);
      if (target.origin !== window.location.origin) {
        state.errors.push("shopify-reload points to another origin: " + reload);
        return;
      }
      target.searchParams.set("id_token", token);
      state.reloadedTo = target.pathname + target.search;
      window.location.replace(target.href);
    });
  }
})();
