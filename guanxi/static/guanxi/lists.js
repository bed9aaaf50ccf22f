// The account list: "select all on this page", forms that carry the list's current filters,
// and htmx swapping 409/422 answers (an inline edit's message stays in its cell).
(function () {
  "use strict";
  if (window.htmx) {
    window.htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "409", swap: true, error: false },
      { code: "422", swap: true, error: false },
      { code: "[45]..", swap: false, error: true },
    ];
  }
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target && target.matches && target.matches("[data-bulk-all]")) {
      document.querySelectorAll("[data-bulk-row]").forEach(function (box) { box.checked = target.checked; });
    }
  });
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form || !form.matches || !form.matches("[data-current-query]")) { return; }
    var query = form.querySelector("input[name=query]");
    if (query) { query.value = window.location.search.replace(/^\?/, ""); }
    var next = form.querySelector("input[name=next]");
    if (next) { next.value = window.location.pathname + window.location.search; }
  }, true);
})();
