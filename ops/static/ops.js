// The operations view's one script: draws each chart from the JSON the page carries in a
// <script type="application/json"> (no inline script: the Content-Security-Policy forbids it).
// Every chart has a table twin on the page; the chart adds nothing a table does not say.
(function () {
  "use strict";
  var reduced = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  function draw(container) {
    if (container.dataset.drawn === "1" || typeof echarts === "undefined") return;
    var source = document.getElementById(container.dataset.chart);
    if (!source) return;
    var option = JSON.parse(source.textContent);
    option.animation = !reduced && option.animation !== false;
    option.aria = { enabled: true, decal: { show: true }, label: { description: container.dataset.description || "" } };
    var chart = echarts.init(container, null, { renderer: "svg" });
    // The SVG element exists from init; its content is drawn on a later frame. "finished"
    // says the drawing (and any animation) is done: data-rendered tells anyone waiting.
    chart.on("finished", function () { container.dataset.rendered = "1"; });
    chart.setOption(option);
    chart.on("click", function (params) {
      var url = params.data && params.data.url;
      if (url && url.charAt(0) === "/") window.location.assign(url);
    });
    container.dataset.drawn = "1";
    window.addEventListener("resize", function () { chart.resize(); });
  }

  function drawAll(root) {
    (root || document).querySelectorAll("[data-chart]").forEach(draw);
  }

  document.addEventListener("DOMContentLoaded", function () { drawAll(document); });
  document.addEventListener("htmx:after:swap", function (event) { drawAll(event.target); });
})();
