(function () {
  function check() {
    var charts = document.querySelectorAll('svg.chart'), rendered = 0, parts = [];
    for (var i = 0; i < charts.length; i++) {
      var chart = charts[i], series = chart.querySelectorAll('.series'), count = 0;
      for (var j = 0; j < series.length; j++) {
        var element = series[j];
        try {
          var box = element.getBBox();
          var length = typeof element.getTotalLength === 'function' ? element.getTotalLength() : 1;
          if (box.width > 0 && length > 0) { count++; }
        } catch (error) { /* not rendered */ }
      }
      chart.setAttribute('data-series-rendered', String(count));
      if (count > 0) { rendered++; }
      parts.push(chart.getAttribute('data-chart') + '=' + count);
    }
    document.body.setAttribute('data-charts-rendered', String(rendered));
    var out = document.getElementById('render-check');
    if (!out) {
      out = document.createElement('div');
      out.id = 'render-check';
      out.hidden = true;
      document.body.appendChild(out);
    }
    out.setAttribute('data-charts', String(charts.length));
    out.textContent = parts.join(' ');
  }
  if (document.readyState === 'complete') { check(); } else { window.addEventListener('load', check); }
})();
