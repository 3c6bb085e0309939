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
  // Compare: at most data-max boxes ticked (picks kept from earlier searches included); the count is shown
  // in [data-compare-count]; the Compare button needs two.
  function initCompare(root) {
    var bar = document.getElementById("compare-form");
    if (!bar) return;
    var max = parseInt(bar.dataset.max || "4", 10);
    function update() {
      var boxes = document.querySelectorAll("input[data-compare-box]");
      var ticked = Array.prototype.filter.call(boxes, function (b) { return b.checked; }).length;
      boxes.forEach(function (b) { b.disabled = !b.checked && ticked >= max; });
      document.querySelectorAll("[data-compare-count]").forEach(function (el) { el.textContent = ticked; });
      var button = bar.querySelector("button");
      if (button) button.disabled = ticked < 2;
      bar.classList.toggle("empty", ticked === 0);  // a phone keeps it in the list's flow until a pick
    }
    if (!document.body.dataset.compareWatch) {
      document.body.dataset.compareWatch = "1";
      document.addEventListener("change", function (e) {
        if (!(e.target && e.target.hasAttribute && e.target.hasAttribute("data-compare-box"))) return;
        update();
        // a box outside the filter form (form="filters") does not bubble to it: search again with the pick
        if (window.htmx && e.target.form && e.target.form.hasAttribute("hx-get")) window.htmx.trigger(e.target.form, "change");
      });
    }
    update();
  }
  // A box with data-pick-all="F" ticks or clears every box of form F on the page (the seller's bulk changes).
  function initPickAll(root) {
    root.querySelectorAll("input[data-pick-all]").forEach(function (all) {
      all.addEventListener("change", function () {
        document.querySelectorAll('input[form="' + all.dataset.pickAll + '"][name=ids]').forEach(function (b) {
          b.checked = all.checked;
        });
      });
    });
  }
  function init(root) { initCharts(root); initKindSwitch(root); initCompare(root); initPickAll(root); }
  document.addEventListener("DOMContentLoaded", function () {
    // On a phone, long filter panels start folded (the search box stays open).
    if (window.innerWidth < 860) {
      document.querySelectorAll("details[data-collapse-on-phone]").forEach(function (d) { d.open = false; });
    }
    init(document);
  });
  document.addEventListener("htmx:afterSwap", function (e) { init(e.target); initCompare(document); });
})();
