/* The account 360 page opens the tab named in the address, "?tab=<key>" or "#tab-<key>", so a
 * form that sends the user back (a rating, a file upload) lands on the tab they were working
 * in. The tabs that load after the page (htmx, hx-trigger "intersect once") fetch their
 * content as soon as they are shown. "?tab=" becomes "#tab-" in the address once the tab is
 * open: the tab's own scripts, which come with its content, then find it open and do not
 * open it again (the relationship curve draws only in a shown tab). */
(function () {
  "use strict";

  function show() {
    var key = new URLSearchParams(window.location.search).get("tab");
    var fromQuery = !!key;
    var hash = window.location.hash;
    if (!key && hash.indexOf("#tab-") === 0) { key = hash.slice(5); }
    if (!key || !window.bootstrap) { return; }
    var button = document.querySelector('[data-bs-target="#tab-' + window.CSS.escape(key) + '"]');
    if (!button) { return; }
    window.bootstrap.Tab.getOrCreateInstance(button).show();
    if (fromQuery && window.history.replaceState) {
      var params = new URLSearchParams(window.location.search);
      params.delete("tab");
      var rest = params.toString();
      window.history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : "") + "#tab-" + key);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", show);
  } else {
    show();
  }
  window.addEventListener("hashchange", show);
}());
