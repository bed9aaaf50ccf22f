/* The sales forecast's charts (销售预测): the weighted pipeline by month stacked by team, and
 * the orders history with the held-out predictions and the forecast. Reads its data from the
 * json_script tag #forecast-chart-data (no inline script: CSP). */
(function () {
  "use strict";

  var COLOURS = ["#0d6efd", "#198754", "#6f42c1", "#fd7e14", "#20c997", "#adb5bd", "#d63384", "#0dcaf0"];

  function pipeline(data) {
    var box = document.getElementById("forecast-pipeline-chart");
    if (!box || box.dataset.drawn === "1") { return; }
    var traces = data.pipeline.teams.map(function (team, i) {
      return { type: "bar", name: team.name, x: data.pipeline.months, y: team.values,
               marker: { color: COLOURS[i % COLOURS.length] } };
    });
    var layout = {
      barmode: "stack",
      margin: { l: 60, r: 10, t: 10, b: 40 },
      xaxis: { type: "category" },
      yaxis: { title: { text: data.labels.weighted }, rangemode: "tozero" },
      legend: { orientation: "h", y: -0.2 }
    };
    window.Plotly.newPlot(box, traces, layout, { displaylogo: false, responsive: true });
    box.dataset.drawn = "1";
  }

  function column(rows, key) { return rows.map(function (r) { return r[key]; }); }

  function orders(data) {
    var box = document.getElementById("forecast-orders-chart");
    if (!box || !data.orders || box.dataset.drawn === "1") { return; }
    var o = data.orders;
    var traces = [
      { type: "scatter", mode: "lines+markers", name: data.labels.history, x: column(o.history, "month"),
        y: column(o.history, "amount"), line: { color: "#0d6efd" } },
      { type: "scatter", mode: "lines+markers", name: data.labels.holdout, x: column(o.holdout, "month"),
        y: column(o.holdout, "predicted"), line: { color: "#fd7e14", dash: "dot" } },
      { type: "scatter", mode: "lines+markers", name: data.labels.forecast, x: column(o.forecast, "month"),
        y: column(o.forecast, "amount"), line: { color: "#198754", dash: "dash" } }
    ];
    var layout = {
      margin: { l: 60, r: 10, t: 10, b: 40 },
      xaxis: { type: "date", tickformat: "%Y-%m" },
      yaxis: { title: { text: data.labels.orders }, rangemode: "tozero" },
      legend: { orientation: "h", y: -0.2 },
      hovermode: "x"
    };
    window.Plotly.newPlot(box, traces, layout, { displaylogo: false, responsive: true });
    box.dataset.drawn = "1";
  }

  function start() {
    var source = document.getElementById("forecast-chart-data");
    if (!source || !window.Plotly) { return; }
    var data = JSON.parse(source.textContent);
    pipeline(data);
    orders(data);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
