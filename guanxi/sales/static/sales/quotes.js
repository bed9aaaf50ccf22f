// The product picker of a quote's "Add from the catalogue" form: type a name, pinyin, code or
// model, pick a match (click or Enter), then add the line. The quote's working area is
// replaced by htmx after every change, so every listener is delegated from the document.
(function () {
  "use strict";
  let timer = null;
  let sequence = 0;

  function resultsOf(input) {
    return document.getElementById(input.getAttribute("aria-controls"));
  }

  function option(row) {
    const button = document.createElement("button");
    const label = [row.name, row.model].filter(Boolean).join(" ");
    button.type = "button";
    button.className = "list-group-item list-group-item-action py-1";
    button.setAttribute("role", "option");
    button.dataset.productId = row.id;
    button.dataset.label = label;
    button.textContent = label + (row.code ? " (" + row.code + ")" : "");
    return button;
  }

  async function search(input) {
    const box = resultsOf(input);
    const q = input.value.trim();
    const mine = ++sequence;
    if (!q) {
      box.replaceChildren();
      return;
    }
    const url = new URL(input.dataset.productSearch, window.location.origin);
    url.searchParams.set("q", q);
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (mine !== sequence) {
      return; // a later keystroke's answer wins
    }
    if (!response.ok) {
      box.replaceChildren();
      return;
    }
    const data = await response.json();
    const rows = Array.isArray(data) ? data : (data.results || data.items || []);
    if (!rows.length) {
      const empty = document.createElement("div");
      empty.className = "list-group-item small text-muted";
      empty.textContent = input.dataset.empty || "";
      box.replaceChildren(empty);
      return;
    }
    box.replaceChildren(...rows.map(option));
  }

  document.addEventListener("input", function (event) {
    const input = event.target.closest && event.target.closest("[data-product-search]");
    if (!input) {
      return;
    }
    input.form.querySelector("[name=product]").value = "";
    clearTimeout(timer);
    timer = setTimeout(function () { search(input); }, 200);
  });

  document.addEventListener("click", function (event) {
    const choice = event.target.closest && event.target.closest("[data-product-id]");
    if (!choice) {
      return;
    }
    const form = choice.closest("form");
    form.querySelector("[name=product]").value = choice.dataset.productId;
    form.querySelector("[data-product-search]").value = choice.dataset.label;
    choice.parentElement.replaceChildren();
    form.querySelector("[name=quantity]").focus();
  });

  document.addEventListener("keydown", function (event) {
    const input = event.target.closest && event.target.closest("[data-product-search]");
    if (!input || event.key !== "Enter") {
      return;
    }
    // Enter picks the first match instead of submitting the form without a product.
    event.preventDefault();
    const first = resultsOf(input).querySelector("[data-product-id]");
    if (first) {
      first.click();
    }
  });
})();
