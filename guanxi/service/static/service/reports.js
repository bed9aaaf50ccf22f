/* Charts of the service report (服务报表) and of the satisfaction dashboard (满意度看板).
 * Each page puts its figures in a json_script tag (#report-chart-data or #dashboard-chart-data);
 * no inline script (CSP). Every chart has the same figures in the table under it. */
(function () {
  "use strict";

  var COLOURS = ["#0d6efd", "#198754", "#6f42c1", "#fd7e14", "#20c997", "#adb5bd", "#d63384", "#0dcaf0"];
  var CONFIG = { displaylogo: false, responsive: true };

  function draw(id, traces, layout) {
    var box = document.getElementById(id);
    if (!box || box.dataset.drawn === "1") { return; }
    var base = { margin: { l: 60, r: 10, t: 10, b: 60 }, legend: { orientation: "h", y: -0.25 } };
    window.Plotly.newPlot(box, traces, Object.assign(base, layout || {}), CONFIG);
    box.dataset.drawn = "1";
  }

  function bars(id, series, label, horizontal) {
    var trace = horizontal
      ? { type: "bar", orientation: "h", y: series.labels.slice().reverse(), x: series.values.slice().reverse(),
          name: label, marker: { color: COLOURS[0] } }
      : { type: "bar", x: series.labels, y: series.values, name: label, marker: { color: COLOURS[0] } };
    var layout = horizontal
      ? { margin: { l: 160, r: 10, t: 10, b: 40 }, xaxis: { rangemode: "tozero" }, showlegend: false }
      : { xaxis: { type: "category" }, yaxis: { rangemode: "tozero" }, showlegend: false };
    draw(id, [trace], layout);
  }

  function report(data) {
    var L = data.labels;
    draw("chart-month", data.month.series.map(function (s, i) {
      return { type: "bar", name: s.name, x: data.month.labels, y: s.values, marker: { color: COLOURS[i % COLOURS.length] } };
    }), { barmode: "stack", xaxis: { type: "category" }, yaxis: { title: { text: L.cases }, rangemode: "tozero" } });
    bars("chart-channel", data.channel, L.cases, false);
    bars("chart-category", data.category, L.cases, true);
    bars("chart-product", data.product, L.cases, true);
    bars("chart-kind", data.kind, L.cases, false);
    draw("chart-sla", [
      { type: "bar", name: L.met, x: data.sla.labels, y: data.sla.met, marker: { color: "#198754" } },
      { type: "bar", name: L.missed, x: data.sla.labels, y: data.sla.missed, marker: { color: "#dc3545" } }
    ], { barmode: "stack", xaxis: { type: "category" }, yaxis: { title: { text: L.cases }, rangemode: "tozero" } });
    draw("chart-times", [
      { type: "scatter", mode: "lines+markers", name: L.response, x: data.times.labels, y: data.times.response,
        line: { color: COLOURS[0] }, connectgaps: false },
      { type: "scatter", mode: "lines+markers", name: L.resolution, x: data.times.labels, y: data.times.resolution,
        line: { color: COLOURS[3] }, connectgaps: false },
      { type: "scatter", mode: "lines", name: L.response_mean, x: data.times.labels, y: data.times.response_mean,
        line: { color: COLOURS[0], dash: "dot" }, connectgaps: false },
      { type: "scatter", mode: "lines", name: L.resolution_mean, x: data.times.labels, y: data.times.resolution_mean,
        line: { color: COLOURS[3], dash: "dot" }, connectgaps: false }
    ], { xaxis: { type: "category" }, yaxis: { title: { text: L.hours }, rangemode: "tozero" }, hovermode: "x" });
    bars("chart-backlog", data.backlog, L.open, false);
  }

  function dashboard(data) {
    var L = data.labels;
    var dims = data.dimensions.map(function (d) { return d.label; });
    var closed = dims.concat(dims.slice(0, 1));
    draw("chart-rater", data.rater.map(function (s, i) {
      var values = s.values.concat(s.values.slice(0, 1));
      return { type: "scatterpolar", fill: i === 0 ? "toself" : "none", name: s.name, r: values, theta: closed,
               line: { color: COLOURS[i % COLOURS.length] }, connectgaps: true };
    }), { polar: { radialaxis: { range: [0, 5], dtick: 1 } }, margin: { l: 40, r: 40, t: 30, b: 40 } });
    draw("chart-trend", [
      { type: "scatter", mode: "lines+markers", name: L.nps, x: data.trend.labels, y: data.trend.nps,
        line: { color: COLOURS[0] }, connectgaps: false },
      { type: "scatter", mode: "lines+markers", name: L.satisfied, x: data.trend.labels, y: data.trend.satisfied,
        line: { color: COLOURS[1], dash: "dash" }, connectgaps: false },
      { type: "scatter", mode: "lines+markers", name: L.rate, x: data.trend.labels, y: data.trend.rate,
        line: { color: COLOURS[5], dash: "dot" }, connectgaps: false }
    ], { xaxis: { type: "category" }, yaxis: { range: [-100, 100], zeroline: true }, hovermode: "x" });
    ["touchpoint", "department", "team"].forEach(function (key) {
      var g = data[key];
      if (!g) { return; }
      draw("chart-" + key, [
        { type: "bar", name: L.nps, x: g.labels, y: g.nps, marker: { color: COLOURS[0] } },
        { type: "bar", name: L.satisfied, x: g.labels, y: g.satisfied, marker: { color: COLOURS[1] } },
        { type: "bar", name: L.rate, x: g.labels, y: g.rate, marker: { color: COLOURS[5] } }
      ], { barmode: "group", xaxis: { type: "category" }, yaxis: { range: [-100, 100] } });
    });
  }

  function start() {
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
    if (!window.Plotly) { return; }
    var source = document.getElementById("report-chart-data");
    if (source) { report(JSON.parse(source.textContent)); }
    source = document.getElementById("dashboard-chart-data");
    if (source) { dashboard(JSON.parse(source.textContent)); }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
}());
