// The overview: what an operator looks at first. Counts by status and type, the finish rate
// over the last ten minutes, the parked workflows that wait for a person, lease expiries and
// fenced writes, and per-service error rates. Refreshes every 2 s from GET /v1/overview (one
// query) plus the first page of parked workflows.

import { api } from '../api.js';
import { h, fill, errorBox, report, sleep, loaded, keepFocus, onWidthChange, STATUSES } from '../dom.js';
import { clock, count, percent, rate, ago, timeEl } from '../format.js';
import { s, title, px, scale, niceStep } from '../svg.js';

const REFRESH_MS = 2000;
const PARKED_SHOWN = 25;
const OUTCOMES = ['completed', 'compensated', 'failed'];

export async function mount(root, { signal, setLive }) {
  document.title = 'Overview · Sagaflow';
  const box = errorBox();
  const updated = h('span', { class: 'updated muted' });
  const cards = STATUSES.map((status) =>
    h(
      'a',
      { class: `stat s-${status}`, href: `#/workflows?status=${status}` },
      h('span', { class: 'stat-label' }, h('span', { class: `dot s-${status}` }), status),
      h('span', { class: 'stat-value', 'data-count-status': status }, '0'),
    ),
  );
  const chartBox = h('div', { class: 'chart' });
  const chartSummary = h('p', { class: 'muted small' });
  const parkedList = h('ul', { id: 'parked-list', class: 'link-list' });
  const parkedMore = h('p', { class: 'small', hidden: true });
  const byType = h('tbody');
  const services = h('tbody');
  const servicesNote = h('p', { class: 'muted small' });
  const leaseExpiries = h('span', { id: 'lease-expiries', class: 'stat-value' }, '—');
  const fencedWrites = h('span', { id: 'fenced-writes', class: 'stat-value' }, '—');
  const fencedNote = h('p', { class: 'muted small', hidden: true }, 'Counted by the workers; see their metrics.');

  const th = (text, cls, extra = {}) => h('th', { scope: 'col', class: cls, ...extra }, text);
  const chartPanel = h(
    'section',
    { class: 'panel' },
    h('h2', {}, 'Finished per second · last 10 minutes'),
    legend(),
    chartBox,
    chartSummary,
  );
  const parkedPanel = h(
    'section',
    { class: 'panel' },
    h('h2', {}, 'Parked · needs an operator'),
    h('p', { class: 'muted small' }, 'Failed workflows stop and wait: fix the cause, then retry them from their page.'),
    parkedList,
    parkedMore,
  );
  const byTypePanel = h(
    'section',
    { class: 'panel' },
    h('h2', {}, 'By type'),
    h(
      'div',
      { class: 'table-scroll' },
      h(
        'table',
        { id: 'by-type', class: 'data' },
        h('thead', {}, h('tr', {}, th('type'), STATUSES.map((st) => th(st, 'num')), th('total', 'num'))),
        byType,
      ),
    ),
  );
  const leasesPanel = h(
    'section',
    { class: 'panel' },
    h('h2', {}, 'Leases and fencing · last 10 minutes'),
    h(
      'div',
      { class: 'stats stats-small' },
      h('div', { class: 'stat' }, h('span', { class: 'stat-label' }, 'lease expiries'), leaseExpiries),
      h('div', { class: 'stat' }, h('span', { class: 'stat-label' }, 'fenced writes'), fencedWrites),
    ),
    h('p', { class: 'muted small' }, 'A lease expires when a worker stops heartbeating (a crash, a pause); another worker takes the workflow over. A fenced write is a late write of the old lease holder, refused by the journal.'),
    fencedNote,
  );
  const servicesPanel = h(
    'section',
    { class: 'panel' },
    h('h2', {}, 'Services · last 10 minutes'),
    h(
      'div',
      { class: 'table-scroll' },
      h(
        'table',
        { id: 'services', class: 'data' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            th('service'),
            th('calls', 'num'),
            th('retryable errors', 'num'),
            th('business errors', 'num'),
            th('leases lost', 'num', { title: 'attempts whose worker lost its lease' }),
            th('error rate', 'num', { title: 'retryable errors / calls' }),
          ),
        ),
        services,
      ),
    ),
    servicesNote,
  );

  fill(
    root,
    h('div', { class: 'view-head' }, h('h1', {}, 'Overview'), updated),
    box.el,
    h('section', { class: 'stats', 'aria-label': 'Workflows by status' }, cards),
    h('div', { class: 'grid grid-2-1' }, chartPanel, parkedPanel),
    h('div', { class: 'grid grid-2-1' }, byTypePanel, leasesPanel),
    servicesPanel,
  );

  let last = null;
  // The chart is drawn at the container's pixel width so text stays its size; redraw on resize.
  onWidthChange(chartBox, () => last && drawChart(chartBox, last), signal);

  setLive(true);
  while (!signal.aborted) {
    try {
      const [ov, parked] = await Promise.all([
        api('/v1/overview', { signal }),
        api('/v1/workflows', { query: { status: 'failed', limit: PARKED_SHOWN }, signal }),
      ]);
      if (signal.aborted) return;
      last = ov;
      renderCounts(root, ov, byType);
      drawChart(chartBox, ov);
      chartSummary.textContent = summary(ov);
      keepFocus(parkedList, 'data-workflow-id', () => renderParked(parkedList, parkedMore, parked));
      renderServices(services, ov.services || []);
      servicesNote.textContent =
        'Attempts that ended in the window. Error rate = retryable errors (timeouts, 5xx, connection errors) / calls; business errors are refusals, not faults.' +
        (ov.sampled_workflows_max ? ` Counted over at most ${count(ov.sampled_workflows_max)} finished and ${count(ov.sampled_workflows_max)} unfinished recent workflows.` : '');
      leaseExpiries.textContent = count(ov.lease_expiries);
      const fenced = ov.fenced_writes;
      fencedWrites.textContent = fenced === null || fenced === undefined ? '—' : count(fenced);
      fencedNote.hidden = !(fenced === null || fenced === undefined);
      fill(updated, 'updated ', timeEl(ov.now, { millis: false }));
      box.clear();
      loaded(root);
    } catch (err) {
      report(err, box, signal);
    }
    await sleep(REFRESH_MS, signal);
  }
}

function legend() {
  return h(
    'p',
    { class: 'legend small' },
    OUTCOMES.map((o) => h('span', { class: 'legend-item' }, h('span', { class: `swatch f-${o}` }), o)),
  );
}

function renderCounts(root, ov, tbody) {
  const byStatus = Object.fromEntries(STATUSES.map((st) => [st, 0]));
  const types = new Map();
  for (const { type, status, count: n } of ov.counts || []) {
    byStatus[status] = (byStatus[status] || 0) + n;
    if (!types.has(type)) types.set(type, {});
    types.get(type)[status] = (types.get(type)[status] || 0) + n;
  }
  for (const el of root.querySelectorAll('[data-count-status]')) {
    el.textContent = String(byStatus[el.dataset.countStatus] || 0);
  }
  const rows = [...types.keys()].sort().map((type) => {
    const c = types.get(type);
    const total = STATUSES.reduce((sum, st) => sum + (c[st] || 0), 0);
    return h(
      'tr',
      { 'data-type': type },
      h('th', { scope: 'row' }, h('a', { href: `#/workflows?type=${encodeURIComponent(type)}` }, type)),
      STATUSES.map((st) => h('td', { class: c[st] ? 'num' : 'num muted' }, count(c[st] || 0))),
      h('td', { class: 'num strong' }, count(total)),
    );
  });
  keepFocus(tbody, 'href', () =>
    fill(tbody, rows.length ? rows : h('tr', {}, h('td', { colspan: STATUSES.length + 2, class: 'empty' }, 'No workflows yet.'))),
  );
}

function summary(ov) {
  const totals = { completed: 0, compensated: 0, failed: 0 };
  for (const b of ov.finished || []) for (const o of OUTCOMES) totals[o] += b[o] || 0;
  const all = totals.completed + totals.compensated + totals.failed;
  const windowS = ov.window_s || 600;
  return `${count(all)} finished in ${Math.round(windowS / 60)} min (${rate(all / windowS)}/s): ${count(totals.completed)} completed, ${count(totals.compensated)} compensated, ${count(totals.failed)} failed.`;
}

/** The stacked bar chart svg#finished-chart: one bar per bucket, per-second rates. */
function drawChart(container, ov) {
  const buckets = ov.finished || [];
  const bucketS = ov.bucket_s || 10;
  const windowS = ov.window_s || buckets.length * bucketS;
  const width = Math.max(280, container.clientWidth || 600);
  const height = 170;
  const m = { top: 10, right: 8, bottom: 22, left: 38 };
  const plotW = width - m.left - m.right;
  const plotH = height - m.top - m.bottom;

  const perSecond = buckets.map((b) => OUTCOMES.map((o) => (b[o] || 0) / bucketS));
  const peak = Math.max(0, ...perSecond.map((v) => v[0] + v[1] + v[2]));
  const step = niceStep(peak || 1, 4);
  const top = Math.max(step, Math.ceil(peak / step) * step);
  const y = scale(0, top, m.top + plotH, m.top);
  const slot = plotW / Math.max(1, buckets.length);

  const svg = s('svg', {
    id: 'finished-chart',
    class: 'chart-svg',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': `Finished workflows per second over the last ${Math.round(windowS / 60)} minutes`,
  });

  // Y grid and labels.
  for (let v = 0; v <= top + step / 2; v += step) {
    const yy = px(y(v));
    svg.append(
      s('line', { x1: m.left, x2: width - m.right, y1: yy, y2: yy, class: v === 0 ? 'axis' : 'grid' }),
      s('text', { x: m.left - 6, y: yy + 4, class: 'tick', 'text-anchor': 'end' }, rate(v)),
    );
  }

  // Bars, stacked bottom-up: completed, compensated, failed. A full-height transparent rect
  // per bucket carries the tooltip, so thin bars are easy to hover.
  buckets.forEach((b, i) => {
    const x = m.left + i * slot;
    const g = s('g', { class: 'bucket', 'data-at': b.at });
    let base = 0;
    OUTCOMES.forEach((o, k) => {
      const v = perSecond[i][k];
      if (!v) return;
      const y0 = y(base);
      const y1 = y(base + v);
      g.append(s('rect', { x: px(x + 0.5), y: px(y1), width: px(Math.max(1, slot - 1.5)), height: px(Math.max(1, y0 - y1)), class: `f-${o}` }));
      base += v;
    });
    g.append(
      s('rect', { x: px(x), y: m.top, width: px(slot), height: plotH, class: 'hit' }),
      title(`${clock(b.at, { millis: false })} +${bucketS} s: ${b.completed || 0} completed, ${b.compensated || 0} compensated, ${b.failed || 0} failed (${rate(base)}/s)`),
    );
    svg.append(g);
  });

  // X labels every two minutes back from now (the right edge).
  const labelEvery = windowS >= 300 ? 120 : 60;
  for (let back = 0; back <= windowS; back += labelEvery) {
    const xx = px(m.left + plotW * (1 - back / windowS));
    const anchor = back === 0 ? 'end' : back === windowS ? 'start' : 'middle';
    svg.append(
      s('line', { x1: xx, x2: xx, y1: m.top + plotH, y2: m.top + plotH + 4, class: 'axis' }),
      s('text', { x: xx, y: height - 6, class: 'tick', 'text-anchor': anchor }, back === 0 ? 'now' : `−${back / 60} m`),
    );
  }
  container.replaceChildren(svg);
}

function renderParked(list, more, page) {
  const rows = page.workflows || [];
  fill(
    list,
    rows.length
      ? rows.map((w) =>
          h(
            'li',
            {},
            h('a', { href: `#/workflows/${w.id}`, 'data-workflow-id': w.id, class: 'mono' }, w.id),
            h('span', { class: 'muted small' }, ` ${w.type} · parked ${ago(w.finished_at || w.created_at)}`),
          ),
        )
      : h('li', { class: 'empty' }, 'Nothing is parked.'),
  );
  more.hidden = !page.next_cursor;
  fill(more, h('a', { href: '#/workflows?status=failed' }, `More parked workflows →`));
}

function renderServices(tbody, rows) {
  const sorted = [...rows].sort((a, b) => a.service.localeCompare(b.service));
  fill(
    tbody,
    sorted.length
      ? sorted.map((r) => {
          const share = r.calls ? r.retryable_errors / r.calls : 0;
          return h(
            'tr',
            { 'data-service': r.service },
            h('th', { scope: 'row' }, r.service),
            h('td', { class: 'num' }, count(r.calls)),
            h('td', { class: r.retryable_errors ? 'num warn' : 'num muted' }, count(r.retryable_errors)),
            h('td', { class: r.business_errors ? 'num' : 'num muted' }, count(r.business_errors)),
            h('td', { class: r.lease_expiries ? 'num warn' : 'num muted' }, count(r.lease_expiries || 0)),
            h('td', { class: 'num' }, h('span', { class: 'rate' }, meter(share), percent(r.retryable_errors, r.calls))),
          );
        })
      : h('tr', {}, h('td', { colspan: 6, class: 'empty' }, 'No calls in the window.')),
  );
}

/** A small horizontal meter for a share between 0 and 1. */
function meter(share) {
  const w = 48;
  return s(
    'svg',
    { class: 'meter', width: w, height: 6, viewBox: `0 0 ${w} 6`, 'aria-hidden': 'true' },
    s('rect', { width: w, height: 6, rx: 2, class: 'meter-bg' }),
    s('rect', { width: px(Math.min(1, share) * w), height: 6, rx: 2, class: share > 0.2 ? 'meter-bad' : share > 0 ? 'meter-warn' : 'meter-ok' }),
  );
}
