/* The business check's charts (业务检查): contacts made per day or week, stacked by kind,
 * and customers by grade with those not contacted in the period. Reads its data from the
 * json_script tag #check-chart-data (no inline script: CSP). */
(function () {
  "use strict";

  var COLOURS = ["#0d6efd", "#198754", "#6f42c1", "#adb5bd", "#fd7e14", "#20c997"];

  function contacts(data) {
    var box = document.getElementById("check-contacts-chart");
    if (!box || box.dataset.drawn === "1") { return; }
    var x = data.series.map(function (p) { return p.date; });
    var traces = data.kinds.map(function (kind, i) {
      return {
        type: "bar", name: kind.label, x: x, marker: { color: COLOURS[i % COLOURS.length] },
        y: data.series.map(function (p) { return p.by_kind[kind.code] || 0; })
      };
    });
    var layout = {
      barmode: "stack",
      margin: { l: 40, r: 10, t: 10, b: 40 },
      xaxis: { type: "date", tickformat: "%m-%d" },
      yaxis: { title: { text: data.labels.contacts }, rangemode: "tozero" },
      legend: { orientation: "h", y: -0.2 },
      hovermode: "x"
    };
    window.Plotly.newPlot(box, traces, layout, { displaylogo: false, responsive: true });
    box.dataset.drawn = "1";
  }

  function grades(data) {
    var box = document.getElementById("check-grades-chart");
    if (!box || box.dataset.drawn === "1") { return; }
    var x = data.grades.map(function (g) { return g.grade; });
    var traces = [
      { type: "bar", name: data.labels.accounts, x: x, y: data.grades.map(function (g) { return g.count; }),
        marker: { color: "#0d6efd" } },
      { type: "bar", name: data.labels.idle, x: x, y: data.grades.map(function (g) { return g.idle; }),
        marker: { color: "#dc3545" } }
    ];
    var layout = {
      barmode: "group",
      margin: { l: 40, r: 10, t: 10, b: 40 },
      xaxis: { type: "category" },
      yaxis: { rangemode: "tozero" },
      legend: { orientation: "h", y: -0.2 }
    };
    window.Plotly.newPlot(box, traces, layout, { displaylogo: false, responsive: true });
    box.dataset.drawn = "1";
  }

  function start() {
    var source = document.getElementById("check-chart-data");
    if (!source || !window.Plotly) { return; }
    var data = JSON.parse(source.textContent);
    contacts(data);
    grades(data);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
