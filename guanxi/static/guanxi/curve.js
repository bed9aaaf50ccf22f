/* The relationship curve (客户关系曲线) on the account page: score and grade over time,
 * with the ratings that moved the grade marked. Reads its data from the json_script tag
 * #relationship-curve-data (no inline script: CSP). Drawn when the Rating tab is shown,
 * because plotly cannot size a chart inside a hidden tab. */
(function () {
  "use strict";

  function esc(text) {
    return String(text == null ? "" : text).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }

  function hover(p, labels) {
    var lines = [
      "<b>" + esc(p.grade) + "</b> · " + esc(labels.score) + " " + p.score,
      esc(p.at.slice(0, 16).replace("T", " ")) + " · " + esc(p.kind) + " · " + esc(labels.by) + " " + esc(p.by)
    ];
    if (p.moved) { lines.push(esc(labels.moved) + ": " + esc(p.previous_grade) + " → " + esc(p.grade)); }
    if (p.note) { lines.push(esc(labels.note) + ": " + esc(p.note)); }
    if (p.factors) { lines.push("<span style='font-size:11px'>" + esc(p.factors) + "</span>"); }
    return lines.join("<br>");
  }

  function draw() {
    var box = document.getElementById("relationship-curve");
    var source = document.getElementById("relationship-curve-data");
    if (!box || !source || !window.Plotly || box.dataset.drawn === "1") { return; }
    var data = JSON.parse(source.textContent);
    var points = data.points, labels = data.labels;
    var x = points.map(function (p) { return p.at; });
    var text = points.map(function (p) { return hover(p, labels); });
    var moved = points.filter(function (p) { return p.moved; });
    var grades = (data.grades || []).slice(); // lowest first: D … A from the bottom up
    points.forEach(function (p) { if (grades.indexOf(p.grade) < 0) { grades.push(p.grade); } });
    var traces = [
      { x: x, y: points.map(function (p) { return p.score; }), name: labels.score, mode: "lines+markers",
        line: { color: "#0d6efd" }, text: text, hoverinfo: "text" },
      { x: x, y: points.map(function (p) { return p.grade; }), name: labels.grade, mode: "lines+markers",
        line: { shape: "hv", color: "#6c757d", dash: "dot" }, yaxis: "y2", text: text, hoverinfo: "text" },
      { x: moved.map(function (p) { return p.at; }), y: moved.map(function (p) { return p.score; }),
        name: labels.moved, mode: "markers", marker: { size: 13, color: "#dc3545", symbol: "diamond" },
        text: moved.map(function (p) { return hover(p, labels); }), hoverinfo: "text" }
    ];
    var layout = {
      margin: { l: 45, r: 45, t: 10, b: 40 },
      yaxis: { title: { text: labels.score }, range: [0, 100] },
      yaxis2: { title: { text: labels.grade }, overlaying: "y", side: "right", type: "category",
                categoryorder: "array", categoryarray: grades },
      legend: { orientation: "h", y: -0.2 },
      hovermode: "closest"
    };
    window.Plotly.newPlot(box, traces, layout, { displaylogo: false, responsive: true });
    box.dataset.drawn = "1";
  }

  function start() {
    var tabButton = document.querySelector("[data-bs-target='#tab-rating']");
    var pane = document.getElementById("tab-rating");
    if (tabButton) { tabButton.addEventListener("shown.bs.tab", draw); }
    if (new URLSearchParams(window.location.search).get("tab") === "rating" && tabButton && window.bootstrap) {
      window.bootstrap.Tab.getOrCreateInstance(tabButton).show();
    } else if (pane && pane.classList.contains("active")) {
      draw();
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
