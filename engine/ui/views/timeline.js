// The workflow timeline: every activity of the journal as a lane on one time axis.
//
// - Lanes come in journal order: actions forward, then (in their own group) compensations in
//   reverse step order, exactly as the API lists them; `data-order` is that position.
// - Each finished attempt is a bar from started_at to finished_at coloured by its outcome;
//   the wait between two attempts (the retry backoff) is a hatched gap; an attempt whose lease
//   expired (its worker vanished) gets a marker at the expiry.
// - An activity that has not finished is drawn open-ended up to "now": leased = running,
//   ready = queued (or, when run_at is still ahead, a backoff gap up to run_at).
// - The pivot is a vertical line at the moment the step before it (`pivot_after`) succeeded:
//   from there on the workflow only moves forward and an abort is refused.
// The SVG is drawn at the container's pixel width (not scaled by a viewBox), so labels keep
// their size on a phone and the bars use the whole width.

import { s, title, px, scale, timeStep, hatch, clampText } from '../svg.js';
import { ms, clock, duration, offset } from '../format.js';

const ROW = 24;
const BAR = 12;
const GROUP = 20;
const AXIS = 26;

/** Replaces the content of `container` with svg#timeline for `wf` (`def` may be null). */
export function drawTimeline(container, wf, def, nowMs) {
  const width = Math.max(300, container.clientWidth || 800);
  const narrow = width < 560;
  const labelW = narrow ? 112 : 200;
  const right = 16;
  const terminal = Boolean(wf.finished_at) && ['completed', 'compensated', 'failed'].includes(wf.status);
  const acts = wf.activities || [];

  // ---- the time domain -------------------------------------------------------------------
  const start = Math.min(ms(wf.created_at), ...acts.flatMap((a) => a.attempts.map((t) => ms(t.started_at))).filter(Number.isFinite));
  let end = start;
  const seen = (t) => {
    if (Number.isFinite(t) && t > end) end = t;
  };
  // How far past now the axis may reach for a backoff still running: a quarter of the time
  // so far (at least a second), so a long wait (30 s before the next attempt) shows as a
  // hatched run to the edge instead of squashing every attempt made so far into a sliver.
  const horizon = nowMs + Math.max(1000, 0.25 * (nowMs - start));
  seen(ms(wf.finished_at));
  for (const a of acts) {
    seen(ms(a.finished_at));
    for (const t of a.attempts) seen(ms(t.finished_at));
    // A backoff still running shows up to its due time, or to the horizon if that is sooner.
    if (!terminal && a.status === 'ready' && a.run_at) seen(Math.min(ms(a.run_at), horizon));
  }
  if (!terminal) seen(nowMs);
  if (end - start < 1) end = start + 1;
  const plotL = labelW;
  const plotR = width - right;
  const x = scale(start, end + (end - start) * 0.01, plotL, plotR);

  // ---- rows ------------------------------------------------------------------------------
  const rows = []; // { kind: 'group', label } | { kind: 'lane', activity, order }
  let lastKind = null;
  acts.forEach((a, order) => {
    if (a.kind !== lastKind) rows.push({ kind: 'group', label: a.kind === 'action' ? 'actions' : 'compensations (reverse order)' });
    lastKind = a.kind;
    rows.push({ kind: 'lane', activity: a, order });
  });
  let y = AXIS;
  for (const r of rows) {
    r.y = y;
    y += r.kind === 'group' ? GROUP : ROW;
  }
  // Room under the lanes for the "now" label of a workflow still running.
  const height = y + (terminal ? 6 : 18);

  const svg = s('svg', {
    id: 'timeline',
    class: 'timeline-svg',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': `Timeline of ${acts.length} activities over ${duration(end - start)}`,
  });
  svg.append(s('defs', {}, hatch('tl-hatch', 'hatch')));
  // Lane backgrounds first, so the axis grid shows over them and under the bars.
  for (const r of rows) {
    if (r.kind === 'lane') svg.append(s('rect', { x: 0, y: r.y, width, height: ROW, class: `lane-bg${r.order % 2 ? ' odd' : ''}` }));
  }

  // ---- axis: ticks in ms/s from the workflow's creation ----------------------------------
  const span = end - start;
  const step = timeStep(span, Math.max(2, Math.floor((plotR - plotL) / (narrow ? 50 : 80))));
  const axis = s('g', { class: 'tl-axis' });
  for (let t = 0; t <= span; t += step) {
    const xx = px(x(start + t));
    axis.append(
      s('line', { x1: xx, x2: xx, y1: AXIS - 4, y2: y, class: t === 0 ? 'axis' : 'grid' }),
      s('text', { x: xx, y: AXIS - 9, class: 'tick', 'text-anchor': t === 0 ? 'start' : 'middle' }, offset(t, step)),
    );
  }
  axis.append(s('text', { x: 4, y: AXIS - 9, class: 'tick' }, clock(wf.created_at)));
  svg.append(axis);

  // ---- lanes -----------------------------------------------------------------------------
  const pivotIndex = def && def.pivot_after ? def.steps.findIndex((st) => st.name === def.pivot_after) : -1;
  for (const r of rows) {
    if (r.kind === 'group') {
      svg.append(
        s('text', { x: 4, y: r.y + GROUP - 6, class: 'tl-group' }, r.label),
        s('line', { x1: 0, x2: width, y1: r.y + GROUP - 1, y2: r.y + GROUP - 1, class: 'tl-group-rule' }),
      );
      continue;
    }
    svg.append(lane(r, { x, labelW, nowMs, terminal, pivotIndex, horizon }));
  }

  // ---- the pivot ---------------------------------------------------------------------------
  if (pivotIndex >= 0) svg.append(pivotLine(rows, acts, pivotIndex, def.pivot_after, x, plotR, y, wf.status));

  // ---- now ---------------------------------------------------------------------------------
  if (!terminal) {
    const xx = px(Math.min(plotR, x(nowMs)));
    svg.append(
      s(
        'g',
        { class: 'tl-now' },
        s('line', { x1: xx, x2: xx, y1: AXIS - 4, y2: y + 4, class: 'now' }),
        s('text', { x: xx, y: height - 3, class: 'tick now-label', 'text-anchor': 'middle' }, 'now'),
      ),
    );
  }

  container.replaceChildren(svg);
  for (const text of svg.querySelectorAll('.lane-label')) clampText(text, Number(text.dataset.maxWidth));
}

function lane(r, { x, labelW, nowMs, terminal, pivotIndex, horizon }) {
  const a = r.activity;
  const key = `${a.kind}:${a.step}`;
  const top = r.y;
  const barY = top + (ROW - BAR) / 2;
  const afterPivot = a.kind === 'action' && pivotIndex >= 0 && a.step > pivotIndex;
  const g = s('g', {
    class: `lane lane-${a.kind}${afterPivot ? ' after-pivot' : ''}`,
    'data-activity': key,
    'data-lane': a.kind,
    'data-name': a.name,
    'data-order': r.order,
    'data-status': a.status,
  });

  // The label: the step name (cut to fit once drawn), the attempt count when there were retries.
  const name = (a.kind === 'compensation' ? '↶ ' : '') + a.name;
  g.append(
    s('text', { x: 6, y: top + ROW / 2 + 4, class: 'lane-label', 'data-max-width': labelW - (a.attempts.length > 1 ? 36 : 12) }, name, title(`${a.kind} of step ${a.step} (${a.name}): ${a.status}, ${a.attempt}/${a.max_attempts} attempts`)),
  );
  if (a.attempts.length > 1) {
    g.append(s('text', { x: labelW - 8, y: top + ROW / 2 + 4, class: 'lane-count', 'text-anchor': 'end' }, `×${a.attempts.length}`));
  }

  // Attempts and the backoff gaps between them.
  let prevEnd = null;
  for (const t of a.attempts) {
    const t0 = ms(t.started_at);
    const t1 = ms(t.finished_at);
    if (prevEnd !== null && t0 > prevEnd) g.append(gap(x, prevEnd, t0, barY, `backoff ${duration(t0 - prevEnd)} before attempt ${t.attempt}`));
    const x0 = x(t0);
    const w = Math.max(2, x(t1) - x0);
    g.append(
      s(
        'rect',
        { x: px(x0), y: barY, width: px(w), height: BAR, rx: 2, class: `bar o-${t.outcome}`, 'data-attempt': t.attempt, 'data-outcome': t.outcome },
        title(attemptTitle(a, t)),
      ),
    );
    if (t.outcome === 'lease_expired') g.append(leaseMark(x(t1), barY, t));
    prevEnd = t1;
  }

  // Not finished: open-ended up to now.
  if (!terminal && (a.status === 'leased' || a.status === 'ready')) {
    const from = prevEnd !== null ? prevEnd : ms(a.created_at);
    const due = ms(a.run_at);
    if (a.status === 'ready' && Number.isFinite(due) && due > from && prevEnd !== null) {
      g.append(gap(x, from, Math.min(due, horizon), barY, `backoff: attempt ${a.attempt + 1} due at ${clock(a.run_at)}`, ' pending'));
    }
    const openFrom = a.status === 'ready' && Number.isFinite(due) && prevEnd !== null ? Math.max(from, due) : from;
    if (nowMs > openFrom) {
      const x0 = x(openFrom);
      const running = a.status === 'leased';
      g.append(
        s(
          'rect',
          {
            x: px(x0),
            y: barY,
            width: px(Math.max(2, x(nowMs) - x0)),
            height: BAR,
            rx: 2,
            class: running ? 'bar open running' : 'bar open waiting',
            'data-open': running ? 'running' : 'waiting',
          },
          title(
            running
              ? `attempt ${a.attempt} running${a.lease_owner ? ` on ${a.lease_owner}` : ''}; lease until ${clock(a.run_at)}`
              : `waiting for a worker since ${clock(new Date(openFrom).toISOString())}`,
          ),
        ),
      );
    }
  }
  return g;
}

function gap(x, from, to, barY, text, extra = '') {
  const x0 = x(from);
  return s(
    'rect',
    { x: px(x0), y: barY + 2, width: px(Math.max(1, x(to) - x0)), height: BAR - 4, class: `gap${extra}`, fill: 'url(#tl-hatch)' },
    title(text),
  );
}

function leaseMark(xx, barY, t) {
  // A small downward triangle above the bar's end, where the lease ran out.
  const cx = px(xx);
  const y0 = barY - 5;
  return s(
    'path',
    { d: `M${cx - 4},${y0} L${cx + 4},${y0} L${cx},${y0 + 6} Z`, class: 'lease-expiry', 'data-lease-expiry': t.attempt },
    title(`lease expired at ${clock(t.finished_at)}${t.worker ? ` (worker ${t.worker})` : ''}: another worker takes over`),
  );
}

function attemptTitle(a, t) {
  const lines = [
    `${a.name} · attempt ${t.attempt}/${a.max_attempts} · ${t.outcome} · ${duration(t.duration_us / 1000)}`,
    `${clock(t.started_at)} → ${clock(t.finished_at)}${t.worker ? ` on ${t.worker}` : ''}`,
  ];
  if (t.error) lines.push(`${t.error.code}: ${t.error.message}`);
  return lines.join('\n');
}

/**
 * line#pivot: where the step before the pivot succeeded. Not reached (the workflow failed
 * before it, or has not got there yet): a dashed line at the right edge of the action lanes,
 * labelled so, since no moment exists to put it at.
 */
function pivotLine(rows, acts, pivotIndex, pivotName, x, plotR, bottom, status) {
  const action = acts.find((a) => a.kind === 'action' && a.step === pivotIndex);
  const actionRows = rows.filter((r) => r.kind === 'lane' && r.activity.kind === 'action');
  const reached = action && action.status === 'succeeded';
  // Still moving forward: the pivot may yet come. Compensating or finished: it never will.
  const ahead = !reached && (status === 'pending' || status === 'running');
  const g = s('g', { class: `tl-pivot${reached ? '' : ' unreached'}` });
  let xx;
  let y1 = bottom;
  if (reached) {
    const done = ms(action.finished_at) || Math.max(...action.attempts.map((t) => ms(t.finished_at)));
    xx = px(x(done));
  } else {
    xx = px(plotR - 1);
    const last = actionRows[actionRows.length - 1];
    if (last) y1 = last.y + ROW;
  }
  g.append(
    s(
      'line',
      { id: 'pivot', x1: xx, x2: xx, y1: AXIS - 4, y2: y1, 'data-pivot-after': pivotName, 'data-reached': String(Boolean(reached)) },
      title(reached ? `pivot: ${pivotName} succeeded; from here the workflow only moves forward` : `pivot after ${pivotName}: ${ahead ? 'not reached yet' : 'not reached'}`),
    ),
    s('text', { x: reached ? xx + 4 : xx - 4, y: AXIS + 10, class: 'pivot-label', 'text-anchor': reached ? 'start' : 'end' }, reached ? 'pivot' : ahead ? 'pivot ahead' : 'pivot not reached'),
  );
  return g;
}
