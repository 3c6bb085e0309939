/* suanli web: small progressive enhancements (every page works without them). */
(function () {
  "use strict";
  // Charts: <div class="chart" data-chart='{...ECharts option...}'></div>, also inside htmx-swapped content.
  function initCharts(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      if (el.dataset.chartReady) return;
      el.dataset.chartReady = "1";
      var chart = window.echarts.init(el, null, { renderer: "canvas" });
      chart.setOption(JSON.parse(el.dataset.chart));
      window.addEventListener("resize", function () { chart.resize(); });
    });
  }
  // Forms with data-kind-switch: show only the fieldsets whose data-kinds list the chosen kind.
  function initKindSwitch(root) {
    root.querySelectorAll("select[data-kind-switch]").forEach(function (select) {
      var form = select.form;
      function apply() {
        form.querySelectorAll("[data-kinds]").forEach(function (box) {
          var on = box.dataset.kinds.split(" ").indexOf(select.value) >= 0;
          box.hidden = !on;
          box.querySelectorAll("input,select,textarea").forEach(function (i) { i.disabled = !on; });
        });
      }
      select.addEventListener("change", apply);
      apply();
    });
  }
  // Compare: at most data-max boxes ticked; the count is shown in [data-compare-count].
  function initCompare(root) {
    var form = document.getElementById("compare-form");
    if (!form) return;
    var max = parseInt(form.dataset.max || "4", 10);
    function update() {
      var boxes = document.querySelectorAll("input[form=compare-form][name=ids]");
      var ticked = Array.prototype.filter.call(boxes, function (b) { return b.checked; }).length +
        form.querySelectorAll("input[type=hidden][name=ids]").length;  // picked on an earlier search
      boxes.forEach(function (b) { b.disabled = !b.checked && ticked >= max; });
      document.querySelectorAll("[data-compare-count]").forEach(function (el) { el.textContent = ticked; });
      var button = form.querySelector("button");
      if (button) button.disabled = ticked < 2;
    }
    document.addEventListener("change", function (e) {
      if (e.target && e.target.getAttribute("form") === "compare-form") update();
    });
    update();
  }
  function init(root) { initCharts(root); initKindSwitch(root); initCompare(root); }
  document.addEventListener("DOMContentLoaded", function () {
    // On a phone, long filter panels start folded (the search box stays open).
    if (window.innerWidth < 860) {
      document.querySelectorAll("details[data-collapse-on-phone]").forEach(function (d) { d.open = false; });
    }
    init(document);
  });
  document.addEventListener("htmx:afterSwap", function (e) { init(e.target); initCompare(document); });
})();
