// The account page opens the tab named in the address (#tab-<key>), so a form that sends the
// user back to "/accounts/<id>/#tab-activities" lands on the tab they were working in.
(function () {
  "use strict";
  function showTabFromHash() {
    var hash = window.location.hash;
    if (!hash || hash.indexOf("#tab-") !== 0 || !window.bootstrap) { return; }
    var button = document.querySelector('[data-bs-target="' + window.CSS.escape(hash.slice(1)).replace(/^/, "#") + '"]');
    if (button) { window.bootstrap.Tab.getOrCreateInstance(button).show(); }
  }
  document.addEventListener("DOMContentLoaded", showTabFromHash);
  window.addEventListener("hashchange", showTabFromHash);
})();
