/*
 * Spillway status page: draws the plots from the JSON the server embedded in the page, then refreshes from the
 * page's JSON endpoint every 10 s. Plain browser JavaScript, no build step; uPlot (vendored) draws the plots.
 *
 * Every script error, failed asset load and blocked resource is recorded in the <html data-js-errors> attribute,
 * so the browser test (and a person with the inspector) can see at once whether the page ran cleanly.
 */
(function () {
  'use strict';

  var root = document.documentElement;
  function recordError(message) {
    var previous = root.getAttribute('data-js-errors');
    root.setAttribute('data-js-errors', (previous ? previous + ' | ' : '') + message);
  }
  window.addEventListener('error', function (e) {
    var t = e.target;
    if (t && t !== window && (t.src || t.href)) {
      recordError('failed to load ' + (t.src || t.href));
    } else {
      recordError((e.message || 'error') + (e.filename ? ' at ' + e.filename + ':' + e.lineno : ''));
    }
  }, true);
  window.addEventListener('unhandledrejection', function (e) {
    recordError('unhandled rejection: ' + (e.reason && e.reason.message ? e.reason.message : e.reason));
  });
  document.addEventListener('securitypolicyviolation', function (e) {
    recordError('blocked by CSP: ' + e.violatedDirective + ' ' + e.blockedURI);
  });

  var REFRESH_MS = 10000;
  var plots = {};

  function fmtCount(n) { return n == null ? '\u2013' : Number(n).toLocaleString('en-US'); }
  function fmtRate(n) { return n == null ? '\u2013' : (n >= 100 ? n.toFixed(0) : n.toFixed(1)); }
  function text(selector, value, scope) {
    var el = (scope || document).querySelector(selector);
    if (el) { el.textContent = value; }
    return el;
  }

  var COLORS = {
    ingested: '#0a58ca', written: '#2da44e', overwritten: '#bf8700', rejectedFull: '#cf222e',
    rejectedClosed: '#8250df', rejectedInvalid: '#e16f24', failed: '#6e7781',
    p50: '#0a58ca', p95: '#cf222e'
  };
  var LABELS = {
    ingested: 'ingested/s', written: 'written/s', overwritten: 'dropped: overwritten/s',
    rejectedFull: 'dropped: ring full/s', rejectedClosed: 'dropped: closing/s',
    rejectedInvalid: 'dropped: invalid/s', failed: 'failed/s', p50: 'p50 ms', p95: 'p95 ms'
  };

  /** A uPlot line plot in a container, created once and then only given new data. */
  function linePlot(id, container, columns, names, opts) {
    var data = [columns.t].concat(names.map(function (n) { return columns[n]; }));
    var width = Math.max(120, container.clientWidth || 300);
    var existing = plots[id];
    if (existing) {
      existing.setData(data);
      return existing;
    }
    var series = [{}].concat(names.map(function (n) {
      return { label: LABELS[n] || n, stroke: COLORS[n] || '#57606a', width: 1.5, points: { show: false } };
    }));
    var plot = new uPlot({
      width: width,
      height: opts.height,
      series: series,
      legend: { show: opts.legend !== false },
      cursor: { show: opts.cursor !== false },
      axes: opts.axes || [{ stroke: 'currentColor' }, { stroke: 'currentColor', size: 56 }],
      scales: { x: { time: true } }
    }, data, container);
    container.setAttribute('data-plotted', 'true');
    plots[id] = plot;
    return plot;
  }

  function renderPipeline(p) {
    if (!p) { return; }
    var ids = ['ingested', 'written', 'dropped', 'failed', 'pending'];
    ids.forEach(function (k) { text('#identity [data-k="' + k + '"]', fmtCount(p[k])); });
    var identity = document.getElementById('identity');
    if (identity) { identity.setAttribute('data-balanced', String(p.pending === 0)); }
    var db = text('[data-k="databaseReady"]', p.databaseReady ? 'ready' : 'not ready');
    if (db) { db.className = p.databaseReady ? 'state-up' : 'state-down'; }
    text('[data-k="ring"]', fmtCount(p.ringOccupancy) + ' / ' + fmtCount(p.ringCapacity));
    text('[data-k="batchesInFlight"]', fmtCount(p.batchesInFlight));
    text('[data-k="failedFacts"]', fmtCount(p.failed));
    ['overwritten', 'rejectedFull', 'rejectedClosed', 'rejectedInvalid'].forEach(function (k) {
      text('[data-k="' + k + '"]', fmtCount(p[k]));
    });
    var el = document.getElementById('pipeline-plot');
    if (el && p.rates) {
      linePlot('pipeline', el, p.rates,
        ['ingested', 'written', 'overwritten', 'rejectedFull', 'rejectedClosed', 'rejectedInvalid', 'failed'],
        { height: 220 });
    }
  }

  /** One function per part of the page; each takes the whole document and draws its part if present. */
  var renderers = [function (d) { renderPipeline(d.pipeline); }];

  function render(data) {
    renderers.forEach(function (r) { r(data); });
    var when = new Date(data.generatedAt);
    text('#refreshed', 'Updated ' + when.toLocaleTimeString('en-GB'));
    root.setAttribute('data-rendered', 'true');
    root.setAttribute('data-plots', String(document.querySelectorAll('[data-plotted="true"]').length));
  }

  var dataUrl = null;
  var refreshes = 0;
  function refresh() {
    fetch(dataUrl, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (response) {
        if (response.status === 401) {
          window.location.assign('/login?next=' + encodeURIComponent(window.location.pathname + window.location.search));
          return null;
        }
        if (!response.ok) { throw new Error('refresh answered ' + response.status); }
        return response.json();
      })
      .then(function (data) {
        if (data) {
          render(data);
          refreshes++;
          root.setAttribute('data-refreshes', String(refreshes));
        }
      })
      .catch(function (e) {
        // A collector restart or a network hiccup: say so on the page, try again next period.
        text('#refreshed', 'Refresh failed (' + e.message + '); retrying');
      })
      .then(function () { setTimeout(refresh, REFRESH_MS); });
  }

  window.addEventListener('resize', function () {
    Object.keys(plots).forEach(function (id) {
      var p = plots[id];
      var w = p.root.parentNode.clientWidth;
      if (w > 0) { p.setSize({ width: w, height: p.height }); }
    });
  });

  document.addEventListener('DOMContentLoaded', function () {
    var block = document.getElementById('page-data');
    if (!block) { return; }
    if (typeof uPlot === 'undefined') { recordError('uPlot did not load'); return; }
    var data = JSON.parse(block.textContent);
    dataUrl = data.refreshUrl || '/api/v1/page/overview';
    render(data);
    setTimeout(refresh, REFRESH_MS);
  });
})();
