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

  function fmtPercent(f) {
    if (f == null) { return '\u2013'; }
    var p = f * 100;
    return (p === 100 ? '100' : p.toFixed(p >= 99 ? 3 : 2)) + '%';
  }
  function fmtMs(v) { return (v >= 100 ? v.toFixed(0) : v.toFixed(1)) + ' ms'; }
  /** A window's time apart from the percentage, as the server writes it (MonitorsPanel.detail). */
  function uptimeDetail(u) {
    return 'up ' + fmtDuration(Math.floor(u.up_s)) + ', down ' + fmtDuration(Math.floor(u.down_s)) +
      ', maintenance ' + fmtDuration(Math.floor(u.maintenance_s)) + ', unknown ' + fmtDuration(Math.floor(u.unknown_s));
  }

  function fmtDuration(seconds) {
    if (seconds < 0) { return '\u2013'; }
    var d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600);
    var m = Math.floor(seconds % 3600 / 60), s = Math.floor(seconds % 60);
    if (d > 0) { return d + 'd ' + h + 'h'; }
    if (h > 0) { return h + 'h ' + m + 'm'; }
    if (m > 0) { return m + 'm ' + s + 's'; }
    return s + 's';
  }
  function el(tag, cls, textContent) {
    var e = document.createElement(tag);
    if (cls) { e.className = cls; }
    if (textContent != null) { e.textContent = textContent; }
    return e;
  }
  function stateBadge(state) {
    return el('span', 'state state-' + String(state).toLowerCase(), state);
  }

  /** Bars for the last checks: strip.bits is "1"/"0" per check, oldest first; strip.t their times if known. */
  function stripInto(container, strip) {
    var bits = strip.bits || '', n = bits.length, good = 0, max = 90, box = el('div', 'strip');
    for (var i = n; i < max; i++) { box.appendChild(el('span')); }
    for (var j = 0; j < n; j++) {
      var ok = bits.charAt(j) === '1';
      good += ok ? 1 : 0;
      var bar = el('span', ok ? 'ok' : 'fail');
      if (strip.t) { bar.title = new Date(strip.t[j]).toISOString() + (ok ? ' up' : ' down'); }
      box.appendChild(bar);
    }
    box.setAttribute('role', 'img');
    box.setAttribute('aria-label', good + ' of ' + n + ' recent checks good');
    container.replaceChildren(box);
  }

  function lastInto(container, last) {
    container.replaceChildren();
    if (!last) { container.appendChild(el('span', 'muted', 'no checks yet')); return; }
    var head = (last.durationMs != null ? fmtMs(last.durationMs) : '') +
      (last.statusCode ? ' \u00b7 HTTP ' + last.statusCode : '');
    container.appendChild(document.createTextNode(head));
    var parts = [];
    [['dns', 'dnsMs'], ['connect', 'connectMs'], ['tls', 'tlsMs'], ['ttfb', 'ttfbMs']].forEach(function (p) {
      if (last[p[1]] != null) { parts.push(p[0] + ' ' + fmtMs(last[p[1]])); }
    });
    container.appendChild(el('div', 'phases', parts.join(' \u00b7 ')));
    if (last.certExpiryDays != null && last.certExpiryDays < 14) {
      container.appendChild(el('div', 'warn cert', 'certificate expires in ' + Math.floor(last.certExpiryDays) + ' days'));
    }
  }

  /** Response-time plots: p50 and p95 per bucket. Row plots are created when their row scrolls into view. */
  function rtPlot(id, container, rt, height, small) {
    linePlot(id, container, rt, ['p50', 'p95'], small
      ? { height: height, legend: false, cursor: true, axes: [{ show: false }, { show: false }] }
      : { height: height });
  }

  var visible = {};
  var observer = ('IntersectionObserver' in window) ? new IntersectionObserver(function (entries) {
    entries.forEach(function (entry) {
      if (entry.isIntersecting) {
        var tr = entry.target;
        visible[tr.getAttribute('data-name')] = true;
        observer.unobserve(tr);
        drawRowPlot(tr);
      }
    });
  }) : null;
  var latestRows = {};

  /** The parts of a row drawn only once it is on screen: the strip's bars and the response-time plot. */
  function drawRowPlot(tr) {
    var m = latestRows[tr.getAttribute('data-name')];
    if (!m) { return; }
    stripInto(tr.children[5], m.strip);
    var box = tr.querySelector('.spark');
    if (box) { rtPlot('m:' + m.name, box, m.rt, 48, true); }
  }

  function stripText(cell, strip) {
    var bits = strip.bits || '', good = bits.split('1').length - 1;
    var box = el('div', 'strip');
    box.setAttribute('role', 'img');
    box.setAttribute('aria-label', good + ' of ' + bits.length + ' recent checks good');
    box.appendChild(el('span', 'strip-text', good + '/' + bits.length + ' good'));
    cell.replaceChildren(box);
  }

  function fillRow(tr, m, now) {
    tr.setAttribute('data-state', m.state);
    var cells = tr.children;
    var stateCell = cells[1];
    stateCell.replaceChildren(stateBadge(m.state));
    if (m.incidentStart != null) {
      stateCell.appendChild(document.createTextNode(' '));
      stateCell.appendChild(el('span', 'incident', 'for ' + fmtDuration((now - m.incidentStart) / 1000)));
    }
    [['d', 2], ['w', 3], ['m', 4]].forEach(function (w) {
      var u = m.uptime[w[0]];
      cells[w[1]].textContent = fmtPercent(u.fraction);
      cells[w[1]].title = uptimeDetail(u);
    });
    lastInto(cells[7], m.last);
    if (plots['m:' + m.name] || visible[m.name] || !observer) { drawRowPlot(tr); } else { stripText(cells[5], m.strip); }
  }

  function newRow(m) {
    var tr = el('tr');
    tr.setAttribute('data-name', m.name);
    var th = el('th');
    th.setAttribute('scope', 'row');
    var a = el('a', null, m.name);
    a.href = m.url;
    th.appendChild(a);
    tr.appendChild(th);
    ['c-state', 'num', 'num wide', 'num wide', 'c-strip wide', 'c-rt', 'c-last wide'].forEach(function (cls) {
      tr.appendChild(el('td', cls));
    });
    var spark = el('div', 'spark');
    spark.setAttribute('role', 'img');
    spark.setAttribute('aria-label', 'Response time of ' + m.name + ', last 24 hours, p50 and p95');
    tr.children[6].appendChild(spark);
    return tr;
  }

  function renderMonitors(data) {
    var table = document.getElementById('monitors-table');
    if (!table || !data.monitors) { return; }
    var tbody = table.tBodies[0];
    var existing = {};
    Array.prototype.forEach.call(tbody.rows, function (tr) { existing[tr.getAttribute('data-name')] = tr; });
    latestRows = {};
    data.monitors.forEach(function (m, i) {
      latestRows[m.name] = m;
      var tr = existing[m.name];
      if (!tr) { tr = newRow(m); }
      delete existing[m.name];
      if (tbody.rows[i] !== tr) { tbody.insertBefore(tr, tbody.rows[i] || null); }
      fillRow(tr, m, data.generatedAt);
      if (observer && !plots['m:' + m.name] && !visible[m.name]) { observer.observe(tr); }
    });
    Object.keys(existing).forEach(function (name) {
      var p = plots['m:' + name];
      if (p) { p.destroy(); delete plots['m:' + name]; }
      existing[name].remove();
    });
    table.hidden = data.monitors.length === 0;
    document.getElementById('monitors-empty').hidden = data.monitors.length > 0;
    renderSummary(data.monitorPage);
  }

  /** The counts by state over all monitors (the table holds one page of them); same words as the server's. */
  function renderSummary(p) {
    var line = document.getElementById('monitors-summary');
    if (!line || !p) { return; }
    var parts = Object.keys(p.counts).filter(function (k) { return p.counts[k] > 0; })
      .map(function (k) { return fmtCount(p.counts[k]) + ' ' + k; });
    var all = p.all != null ? p.all : p.total;
    line.textContent = fmtCount(all) + ' monitor' + (all === 1 ? '' : 's') + (parts.length ? ': ' + parts.join(', ') : '');
    Object.keys(p.counts).forEach(function (k) {
      text('.counts a[data-state="' + k + '"]', fmtCount(p.counts[k]) + ' ' + k);
    });
  }

  function renderTransitions(data) {
    var table = document.getElementById('transitions-table');
    if (!table || !data.transitions) { return; }
    var tbody = table.tBodies[0];
    tbody.replaceChildren();
    data.transitions.forEach(function (t) {
      var tr = el('tr');
      tr.appendChild(el('td', null, t.at == null ? '' : new Date(t.at).toISOString().replace('T', ' ').replace(/\.\d+Z$/, '')));
      tr.appendChild(el('td', null, t.kind + ' ' + t.subject));
      var change = el('td', null, t.from ? t.from + ' \u2192 ' : '');
      change.appendChild(stateBadge(t.to));
      tr.appendChild(change);
      tr.appendChild(el('td', 'wide', t.reason || ''));
      tbody.appendChild(tr);
    });
    table.hidden = data.transitions.length === 0;
    document.getElementById('transitions-empty').hidden = data.transitions.length > 0;
  }

  function renderDetail(data) {
    if (data.page !== 'monitor') { return; }
    var m = data.monitor;
    var badge = document.getElementById('detail-state');
    if (badge) { badge.className = 'state state-' + m.state.toLowerCase(); badge.textContent = m.state; }
    var u = data.rangeUptime;
    text('[data-k="rangeUptime"]', fmtPercent(u.fraction) + ' (' + uptimeDetail(u) + ')');
    text('[data-k="uptimeDay"]', fmtPercent(m.uptime.d.fraction));
    text('[data-k="uptimeWeek"]', fmtPercent(m.uptime.w.fraction));
    text('[data-k="uptimeMonth"]', fmtPercent(m.uptime.m.fraction));
    var strip = document.getElementById('detail-strip');
    if (strip) { stripInto(strip, m.strip); }
    var last = document.getElementById('detail-last');
    if (last) { lastInto(last, m.last); }
    var plot = document.getElementById('detail-plot');
    if (plot) { rtPlot('detail', plot, data.rangeRt, 260, false); }
    renderLocations(data);
  }

  /** A monitor with locations: each location's own state (the badge above is their quorum's). */
  function renderLocations(data) {
    var table = document.getElementById('locations');
    if (!table || !data.locations) { return; }
    var tbody = table.tBodies[0];
    tbody.replaceChildren();
    data.locations.rows.forEach(function (l) {
      var tr = el('tr');
      tr.setAttribute('data-location', l.location);
      var name = el('th', null, l.location);
      name.setAttribute('scope', 'row');
      tr.appendChild(name);
      var state = el('td');
      var s = l.state || 'NO RESULT';
      state.appendChild(el('span', 'state state-' + s.toLowerCase().replace(' ', '-'), s));
      tr.appendChild(state);
      tr.appendChild(el('td', null, l.since == null ? '\u2013' : utc(l.since)));
      tr.appendChild(el('td', 'num', l.lastCheck == null ? '\u2013'
        : fmtDuration(Math.max(0, (data.generatedAt - l.lastCheck) / 1000)) + ' ago'));
      tr.appendChild(el('td', 'wide', l.lastError || ''));
      tbody.appendChild(tr);
    });
  }

  function utc(ms) { return ms == null ? '' : new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ''); }

  /** Rebuilds a simple table's body from rows; shows the "none yet" line when empty. */
  function rebuild(tableId, emptyId, rows, cells) {
    var table = document.getElementById(tableId);
    if (!table || !rows) { return; }
    var tbody = table.tBodies[0];
    tbody.replaceChildren();
    rows.forEach(function (r) {
      var tr = el('tr');
      cells(r).forEach(function (c) { tr.appendChild(c); });
      tbody.appendChild(tr);
    });
    table.hidden = rows.length === 0;
    document.getElementById(emptyId).hidden = rows.length > 0;
  }

  function renderServices(data) {
    rebuild('services-table', 'services-empty', data.services, function (s) {
      var name = el('th', null, s.id);
      name.setAttribute('scope', 'row');
      var state = el('td');
      var badge = stateBadge(s.state);
      if (s.state === 'WAITING') { badge.className = 'state state-pending'; }
      state.appendChild(badge);
      var age = s.lastPing == null ? 'never' : fmtDuration((data.generatedAt - s.lastPing) / 1000) + ' ago';
      return [name, state, el('td', null, s.statusName == null ? '#' + s.status : s.statusName),
        el('td', 'num', age), el('td', 'num wide', fmtDuration(s.timeoutMs / 1000) + ' + ' + fmtDuration(s.graceMs / 1000))];
    });
  }

  function renderNotifications(data) {
    rebuild('notifications-table', 'notifications-empty', data.notifications, function (n) {
      var delivery = el('td');
      delivery.appendChild(el('span', 'delivery delivery-' + n.state, n.state));
      if (n.attempts > 1) { delivery.appendChild(document.createTextNode(' (' + n.attempts + ' attempts)')); }
      return [el('td', null, utc(n.at)), el('td', null, n.channel), el('td', null, n.subject + ': ' + n.change),
        delivery, el('td', 'wide', n.lastError || '')];
    });
  }

  /** One function per part of the page; each takes the whole document and draws its part if present. */
  var renderers = [renderMonitors, renderServices, function (d) { renderPipeline(d.pipeline); }, renderTransitions,
    renderNotifications, renderDetail];

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
