// Draws each <canvas data-chart> from the table it names (data-table), with the vendored
// Chart.js: the table is the data, so chart, table and CSV show the same figures.
// Columns after the first are series; the first column labels the points. Optional JSON
// beside the table adds flat lines (a goal) and vertical markers (when a mailing went out).
(function () {
  "use strict";
  var palette = ["#005a9c", "#00703c", "#b35900", "#6f2da8", "#b00020", "#4a4a4a"];

  function number(text) {
    var value = parseFloat(String(text).replace(/[^0-9.\-]/g, ""));
    return isNaN(value) ? null : value;
  }

  function readJson(id) {
    var node = id && document.getElementById(id);
    if (!node) return [];
    try { return JSON.parse(node.textContent) || []; } catch (e) { return []; }
  }

  function tableData(table) {
    var headers = Array.prototype.map.call(table.tHead.rows[0].cells, function (c) { return c.textContent.trim(); });
    var labels = [];
    var series = headers.slice(1).map(function () { return []; });
    Array.prototype.forEach.call(table.tBodies[0].rows, function (row) {
      if (row.cells.length !== headers.length) return; // the "nothing yet" row
      labels.push(row.cells[0].textContent.trim());
      for (var i = 1; i < row.cells.length; i++) series[i - 1].push(number(row.cells[i].textContent));
    });
    return { headers: headers, labels: labels, series: series };
  }

  // Vertical lines at labelled points: a tiny Chart.js plugin, not drawing code of our own
  // beyond one stroke per marker.
  var markerPlugin = {
    id: "musterMarkers",
    afterDatasetsDraw: function (chart, args, options) {
      var markers = options.markers || [];
      var x = chart.scales.x, area = chart.chartArea, ctx = chart.ctx;
      markers.forEach(function (marker) {
        var index = chart.data.labels.indexOf(marker.at);
        if (index < 0) return;
        var px = x.getPixelForValue(index);
        ctx.save();
        ctx.strokeStyle = "#b35900"; ctx.lineWidth = 2; ctx.setLineDash([4, 3]);
        ctx.beginPath(); ctx.moveTo(px, area.top); ctx.lineTo(px, area.bottom); ctx.stroke();
        ctx.fillStyle = "#1b1b1b"; ctx.font = "12px system-ui, sans-serif";
        ctx.fillText(marker.label, Math.min(px + 4, area.right - 80), area.top + 12);
        ctx.restore();
      });
    }
  };

  function draw(canvas) {
    var table = document.getElementById(canvas.dataset.table);
    if (!table || !window.Chart) return;
    var data = tableData(table);
    var kind = canvas.dataset.chart;
    var horizontal = kind === "bar-horizontal";
    var spark = kind === "sparkline"; // a small line without axes or legend; the table has the figures
    var datasets = data.series.map(function (values, i) {
      return { label: data.headers[i + 1], data: values, borderColor: palette[i % palette.length],
               backgroundColor: palette[i % palette.length], tension: 0.2, pointRadius: 0 };
    });
    readJson(table.dataset.chartLines).forEach(function (line) {
      datasets.push({ label: line.label, data: data.labels.map(function () { return line.value; }), type: "line",
                      borderColor: "#4a4a4a", borderDash: [6, 4], pointRadius: 0, fill: false });
    });
    var chart = new window.Chart(canvas, {
      type: horizontal ? "bar" : (kind === "line" || spark ? "line" : "bar"),
      data: { labels: data.labels, datasets: datasets },
      options: {
        indexAxis: horizontal ? "y" : "x", responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { musterMarkers: { markers: readJson(table.dataset.chartMarkers) },
                   legend: { position: "bottom", display: !spark }, tooltip: { enabled: !spark } },
        scales: spark ? { x: { display: false }, y: { display: false, beginAtZero: true } }
                      : { x: { ticks: { maxTicksLimit: 12 } }, y: { beginAtZero: true } }
      },
      plugins: [markerPlugin]
    });
    canvas.musterChart = chart;
  }

  function drawAll(root) {
    Array.prototype.forEach.call((root || document).querySelectorAll("canvas[data-chart]"), function (canvas) {
      if (canvas.musterChart) canvas.musterChart.destroy();
      draw(canvas);
    });
  }

  window.musterCharts = { drawAll: drawAll };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { drawAll(); });
  else drawAll();
})();
