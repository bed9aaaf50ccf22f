// The order line editor: add and remove rows, and suggest product codes from the catalogue
// (sales:product-search answers a JSON list of {code, name, model, ...}) while a code, a
// name or its pinyin is typed. Without JavaScript the blank rows and typed codes still work.
(function () {
  "use strict";
  var table = document.querySelector("[data-testid=line-editor]");
  if (!table) { return; }
  var body = table.querySelector("[data-line-rows]");
  var list = document.getElementById("product-options");
  var searchUrl = table.getAttribute("data-search-url") || "";
  var timer = null;

  function renumber(row, n) {
    row.querySelectorAll("input").forEach(function (input) {
      input.name = input.name.replace(/^line-\d+-/, "line-" + n + "-");
      input.value = "";
    });
    row.classList.remove("table-danger", "d-none");
    row.querySelectorAll("[data-testid=line-row-error]").forEach(function (e) { e.remove(); });
  }

  document.querySelector("[data-add-line]").addEventListener("click", function () {
    var rows = body.querySelectorAll("tr");
    var copy = rows[rows.length - 1].cloneNode(true);
    renumber(copy, rows.length + 1);
    body.appendChild(copy);
    copy.querySelector("input").focus();
  });

  body.addEventListener("click", function (event) {
    var button = event.target.closest("[data-remove-line]");
    if (!button) { return; }
    var row = button.closest("tr");
    row.querySelector("[data-removed]").value = "1";
    row.classList.add("d-none");
  });

  function fill(items) {
    list.textContent = "";
    items.slice(0, 20).forEach(function (item) {
      var option = document.createElement("option");
      option.value = item.code || "";
      option.textContent = [item.name, item.model].filter(Boolean).join(" ");
      if (option.value) { list.appendChild(option); }
    });
  }

  function search(text) {
    if (!searchUrl || text.length < 1) { return; }
    var url = searchUrl + (searchUrl.indexOf("?") < 0 ? "?" : "&") + "q=" + encodeURIComponent(text);
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.json() : []; })
      .then(function (items) { fill(Array.isArray(items) ? items : []); })
      .catch(function () { /* suggestions are a convenience: typing the code still works */ });
  }

  body.addEventListener("input", function (event) {
    if (!event.target.hasAttribute("data-product-input")) { return; }
    clearTimeout(timer);
    var text = event.target.value.trim();
    timer = setTimeout(function () { search(text); }, 250);
  });
})();
