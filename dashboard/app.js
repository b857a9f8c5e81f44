// The dashboard's only script (served from the package, CSP script-src 'self'):
// draws each chart with uPlot from the JSON the server put beside it, and keeps the
// page live by fetching it again every 3 s and swapping its main part, unless the
// operator is typing in a form. The server escaped everything it sent.
(function () {
  'use strict';
  var palette = ['#2563eb', '#dc2626', '#16a34a', '#9333ea'];

  function drawCharts(root) {
    var figures = root.querySelectorAll('figure[data-chart]');
    for (var i = 0; i < figures.length; i++) {
      var figure = figures[i];
      var data = document.getElementById(figure.getAttribute('data-chart'));
      if (!data || typeof uPlot === 'undefined') continue;
      var spec = JSON.parse(data.textContent);
      if (spec.x.length === 0) continue;
      var series = [{}].concat(
        spec.series.map(function (s, k) {
          return { label: s.label, stroke: palette[k % palette.length], width: 2 };
        }),
      );
      var old = figure.querySelector('.uplot');
      if (old) old.remove();
      new uPlot(
        { width: Math.min(900, figure.clientWidth || 900), height: 180, series: series },
        [spec.x].concat(
          spec.series.map(function (s) {
            return s.values;
          }),
        ),
        figure,
      );
    }
  }

  function refresh() {
    var active = document.activeElement;
    if (active && (active.tagName === 'INPUT' || active.tagName === 'SELECT' || active.tagName === 'TEXTAREA')) return;
    fetch(location.href, { credentials: 'same-origin', headers: { Accept: 'text/html' } })
      .then(function (response) {
        if (!response.ok) throw new Error(String(response.status));
        return response.text();
      })
      .then(function (text) {
        var next = new DOMParser().parseFromString(text, 'text/html').getElementById('main');
        var main = document.getElementById('main');
        if (!next || !main) return;
        main.replaceChildren.apply(main, Array.prototype.slice.call(next.childNodes));
        drawCharts(main);
        document.body.setAttribute('data-refreshed', String(Date.now()));
        document.getElementById('live').className = 'live';
      })
      .catch(function () {
        document.getElementById('live').className = 'live off';
      });
  }

  document.addEventListener('DOMContentLoaded', function () {
    drawCharts(document);
    setInterval(refresh, 3000);
  });
})();
