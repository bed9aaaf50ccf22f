/* The deal board (商机看板): move a card to another stage by drag and drop, by Alt+→ / Alt+←
 * on a focused card, or with the card's "Move to…" list. Each move posts the card's form to
 * sales:opportunity-move with the card's version and asks for JSON; a lost stage first asks
 * for the reason in a dialog. On any refusal (409: someone changed the deal meanwhile) the
 * card snaps back to where it was and the message is shown. Column counts and sums come
 * back with every answer. Moves are announced in the aria-live region #board-status.
 * Every text shown comes from the server or the page (translated there); none is written
 * here. No inline script: the page loads this file with the CSP nonce. */
(function () {
  "use strict";

  var board = document.getElementById("pipeline-board");
  if (!board) { return; }
  var statusBox = document.getElementById("board-status");
  var alertBox = document.getElementById("board-alert");
  var dialog = document.getElementById("loss-dialog");
  var dragged = null;

  function lists() { return Array.prototype.slice.call(board.querySelectorAll("[data-role=cards]")); }
  function listOf(stage) { return board.querySelector("[data-role=cards][data-stage='" + stage + "']"); }
  function cardOf(node) { return node && node.closest ? node.closest(".pipeline-card") : null; }
  function cardsIn(list) { return Array.prototype.slice.call(list.querySelectorAll(".pipeline-card")); }

  function announce(text) {
    if (!statusBox || !text) { return; }
    statusBox.textContent = "";
    window.setTimeout(function () { statusBox.textContent = text; }, 30);
  }

  function warn(text) {
    if (!alertBox) { return; }
    alertBox.textContent = text;
    alertBox.classList.remove("d-none");
  }

  function clearWarning() {
    if (alertBox) { alertBox.classList.add("d-none"); alertBox.textContent = ""; }
  }

  function place(card, list, afterId) {
    var after = afterId ? list.querySelector(".pipeline-card[data-id='" + afterId + "']") : null;
    if (after && after !== card) {
      list.insertBefore(card, after.nextSibling);
    } else {
      list.insertBefore(card, list.firstChild);
    }
  }

  function restore(card, origin) {
    origin.parent.insertBefore(card, origin.next && origin.next.parentNode === origin.parent ? origin.next : null);
  }

  function updateColumns(figures) {
    Array.prototype.forEach.call(board.querySelectorAll(".pipeline-column"), function (column) {
      var f = figures[column.getAttribute("data-stage")] || { count: 0, total: board.dataset.zero, weighted: board.dataset.zero };
      column.querySelector("[data-role=count]").textContent = f.count;
      column.querySelector("[data-role=total]").textContent = f.total;
      column.querySelector("[data-role=weighted]").textContent = f.weighted;
      var more = f.count - cardsIn(column.querySelector("[data-role=cards]")).length;
      var link = column.querySelector("[data-role=more]");
      if (link) {
        link.hidden = more <= 0;
        if (more > 0) { link.textContent = (board.dataset.more || "__N__").replace("__N__", more); }
      }
    });
  }

  /* The reason a deal was lost, from the dialog: {loss_reason, loss_note}, or null if cancelled. */
  function askLossReason(card) {
    return new Promise(function (resolve) {
      if (!dialog || typeof dialog.showModal !== "function") { resolve(null); return; }
      var form = dialog.querySelector("form");
      form.reset();
      var name = dialog.querySelector("[data-role=deal-name]");
      if (name) { name.textContent = card.querySelector("[data-testid=card-name]").textContent; }
      var cancel = dialog.querySelector("[data-role=cancel]");
      function onCancel() { dialog.close("cancel"); }
      function onClose() {
        dialog.removeEventListener("close", onClose);
        cancel.removeEventListener("click", onCancel);
        if (dialog.returnValue === "ok") {
          resolve({ loss_reason: form.elements.loss_reason.value, loss_note: form.elements.loss_note.value });
        } else {
          resolve(null);
        }
      }
      dialog.returnValue = "";
      dialog.addEventListener("close", onClose);
      cancel.addEventListener("click", onCancel);
      dialog.showModal();
      form.elements.loss_reason.focus();
    });
  }

  function send(card, stage, afterId, extra, origin) {
    var form = card.querySelector("[data-role=move-form]");
    var data = new FormData(form);
    data.set("stage", stage);
    data.set("rank_after", afterId || "");
    data.set("board_owner", board.dataset.owner || "");
    if (extra.loss_reason) {
      data.set("loss_reason", extra.loss_reason);
      data.set("loss_note", extra.loss_note || "");
    }
    card.setAttribute("aria-busy", "true");
    return fetch(form.action, {
      method: "POST", body: data, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": data.get("csrfmiddlewaretoken") || "" }
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        return { ok: response.ok, body: body };
      });
    }).then(function (result) {
      card.removeAttribute("aria-busy");
      if (!result.ok) {
        restore(card, origin);
        warn(result.body.message || board.dataset.failed);
        announce(result.body.message || board.dataset.failed);
        card.focus();
        return;
      }
      var body = result.body;
      card.dataset.version = body.version;
      card.dataset.stage = body.stage;
      form.querySelector("[data-role=version]").value = body.version;
      form.querySelector("[data-role=move-select]").value = body.stage;
      var probability = card.querySelector("[data-role=probability]");
      if (probability) { probability.textContent = body.probability + "%"; }
      updateColumns(body.columns || {});
      clearWarning();
      announce(body.message);
      card.focus();
    }, function () {
      card.removeAttribute("aria-busy");
      restore(card, origin);
      warn(board.dataset.failed);
      announce(board.dataset.failed);
      card.focus();
    });
  }

  /* Move ``card`` to the column of ``stage``, right after card ``afterId`` (none: on top). */
  function move(card, stage, afterId) {
    var list = listOf(stage);
    if (!list || card.getAttribute("aria-busy") === "true") { return; }
    var origin = { parent: card.parentNode, next: card.nextSibling };
    var same = String(stage) === card.dataset.stage;
    var kind = list.closest(".pipeline-column").getAttribute("data-kind");
    var ready = kind === "lost" && !same ? askLossReason(card) : Promise.resolve({});
    ready.then(function (extra) {
      if (extra === null) {
        card.querySelector("[data-role=move-select]").value = card.dataset.stage;
        announce(board.dataset.cancelled);
        card.focus();
        return;
      }
      place(card, list, afterId);
      card.focus();
      send(card, stage, afterId, extra, origin);
    });
  }

  /* The card a drop at height ``y`` lands after (null: at the top of the list). */
  function cardBefore(list, y, moving) {
    var before = null;
    cardsIn(list).forEach(function (other) {
      if (other === moving) { return; }
      var box = other.getBoundingClientRect();
      if (box.top + box.height / 2 < y) { before = other; }
    });
    return before;
  }

  function listFrom(node) {
    var column = node && node.closest ? node.closest(".pipeline-column") : null;
    return column ? column.querySelector("[data-role=cards]") : null;
  }

  function unmark() {
    Array.prototype.forEach.call(board.querySelectorAll(".drop-target"), function (el) { el.classList.remove("drop-target"); });
  }

  board.addEventListener("dragstart", function (event) {
    var card = cardOf(event.target);
    if (!card) { return; }
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.dataset.id);
    card.classList.add("dragging");
  });

  board.addEventListener("dragend", function () {
    if (dragged) { dragged.classList.remove("dragging"); }
    dragged = null;
    unmark();
  });

  board.addEventListener("dragover", function (event) {
    var list = listFrom(event.target);
    if (!list || !dragged) { return; }
    event.preventDefault();
    event.dataTransfer.dropEffect = "move";
    if (!list.classList.contains("drop-target")) { unmark(); list.classList.add("drop-target"); }
  });

  board.addEventListener("drop", function (event) {
    var list = listFrom(event.target);
    if (!list || !dragged) { return; }
    event.preventDefault();
    unmark();
    var card = dragged;
    var after = cardBefore(list, event.clientY, card);
    move(card, list.dataset.stage, after ? after.dataset.id : null);
  });

  board.addEventListener("keydown", function (event) {
    var card = event.target;
    if (!card.classList || !card.classList.contains("pipeline-card")) { return; }
    if (!event.altKey || (event.key !== "ArrowRight" && event.key !== "ArrowLeft")) { return; }
    event.preventDefault();
    var all = lists();
    var index = all.indexOf(listOf(card.dataset.stage)) + (event.key === "ArrowRight" ? 1 : -1);
    if (index < 0 || index >= all.length) { return; }
    move(card, all[index].dataset.stage, null);
  });

  board.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.getAttribute("data-role") !== "move-form") { return; }
    event.preventDefault();
    var card = cardOf(form);
    var stage = form.querySelector("[data-role=move-select]").value;
    if (stage !== card.dataset.stage) { move(card, stage, null); }
  });
})();
