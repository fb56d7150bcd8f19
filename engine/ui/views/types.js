// The loaded workflow types, each drawn as its saga: the steps in order with their service,
// the pivot (after it the workflow only moves forward), the compensations under the steps
// that have one, run in reverse (arrows pointing back), and each call's retry policy and
// timeout. Wide screens lay the steps out left to right; a phone top to bottom.

import { api } from '../api.js';
import { h, fill, errorBox, report, loaded, onWidthChange } from '../dom.js';
import { duration } from '../format.js';
import { s, title, clampText } from '../svg.js';

export async function mount(root, { signal }) {
  document.title = 'Types · Sagaflow';
  const box = errorBox();
  const list = h('div', { class: 'types' });
  fill(
    root,
    h('div', { class: 'view-head' }, h('h1', {}, 'Workflow types')),
    h('p', { class: 'muted' }, 'Every definition this engine has loaded. Steps run in order; once the step before the pivot succeeds the workflow only moves forward; before it, a refused step compensates the steps already taken, in reverse (dashed boxes).'),
    box.el,
    list,
  );
  let types;
  try {
    types = (await api('/v1/workflow-types', { signal })).workflow_types || [];
  } catch (err) {
    report(err, box, signal);
    return;
  }
  if (signal.aborted) return;
  types.sort((a, b) => a.name.localeCompare(b.name) || a.version - b.version);
  const diagrams = [];
  fill(
    list,
    types.length
      ? types.map((t, i) => {
          const holder = h('div', { class: 'diagram' });
          diagrams.push(() => drawType(holder, t, i));
          return section(t, holder);
        })
      : h('p', { class: 'empty' }, 'No workflow types are loaded.'),
  );
  for (const draw of diagrams) draw();
  onWidthChange(list, () => diagrams.forEach((draw) => draw()), signal);
  loaded(root);
}

function section(t, holder) {
  const inputs = Object.entries(t.input || {});
  return h(
    'section',
    { class: 'panel type', 'data-type': t.name, 'data-version': t.version, 'aria-labelledby': `type-${t.name}-${t.version}` },
    h(
      'div',
      { class: 'type-head' },
      h('h2', { id: `type-${t.name}-${t.version}` }, t.name, h('span', { class: 'muted' }, ` v${t.version}`)),
      h('a', { href: `#/workflows?type=${encodeURIComponent(t.name)}`, class: 'small' }, 'its workflows →'),
    ),
    t.description ? h('p', {}, t.description) : null,
    h(
      'p',
      { class: 'small' },
      h('span', { class: 'muted' }, 'input: '),
      inputs.length ? inputs.map(([k, v], i) => [i ? ', ' : '', h('code', {}, k), h('span', { class: 'muted' }, `: ${v}`)]) : '—',
      h('span', { class: 'muted' }, ' · pivot after: '),
      t.pivot_after ? h('code', {}, t.pivot_after) : 'none (every step can be compensated or none is)',
    ),
    holder,
    h(
      'details',
      { class: 'type-steps' },
      h('summary', {}, 'Steps, retry policies and timeouts as a table'),
      stepsTable(t),
    ),
  );
}

/** "4 attempts · 1 s → 4 s · ×2": what a retry policy does, in one line. */
function retryText(r, { short = false } = {}) {
  if (!r) return '—';
  const initial = duration(r.initial_interval_ms);
  const max = duration(r.max_interval_ms);
  if (short) return `${r.max_attempts}× ${compact(r.initial_interval_ms)}→${compact(r.max_interval_ms)} ×${r.multiplier}`;
  // jitter is a share: a delay d becomes a value in [d·(1−j), d·(1+j)).
  const jitter = r.jitter ? ` · jitter ±${Math.round(r.jitter * 100)} %` : '';
  return `${r.max_attempts} attempts · backoff ${initial} → ${max} · ×${r.multiplier}${jitter}`;
}

/** "500ms", "1s", "1m", "1.5s": a duration for the diagram's boxes, where room is short. */
function compact(milliseconds) {
  if (milliseconds < 1000) return `${milliseconds}ms`;
  if (milliseconds % 60_000 === 0) return `${milliseconds / 60_000}m`;
  return `${Math.round(milliseconds / 100) / 10}s`;
}

function stepsTable(t) {
  return h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      { class: 'data' },
      h(
        'thead',
        {},
        h('tr', {}, ['#', 'step', 'service', 'compensable', 'after pivot', 'action retry', 'compensation retry', 'timeout'].map((c) => h('th', { scope: 'col' }, c))),
      ),
      h(
        'tbody',
        {},
        t.steps.map((st, i) =>
          h(
            'tr',
            { 'data-step-row': st.name },
            h('td', { class: 'num' }, String(i)),
            h('th', { scope: 'row' }, st.name, st.name === t.pivot_after ? h('span', { class: 'tag' }, 'pivot') : null),
            h('td', {}, st.service),
            h('td', {}, st.compensable ? 'yes' : 'no'),
            h('td', {}, st.after_pivot ? 'yes' : 'no'),
            h('td', { class: 'nowrap' }, retryText(st.action_retry)),
            h('td', { class: 'nowrap' }, st.compensable ? retryText(st.compensation_retry) : '—'),
            h('td', { class: 'nowrap' }, st.timeout_ms ? duration(st.timeout_ms) : '—'),
          ),
        ),
      ),
    ),
  );
}

// ---- the diagram --------------------------------------------------------------------------

const W = 142; // box width
const H = 72; // box height
const GAP = 28; // between boxes along the flow
const CROSS = 46; // between a step and its compensation
const M = 14; // margin

function drawType(holder, t, index) {
  const n = t.steps.length;
  const natural = 2 * M + n * W + Math.max(0, n - 1) * GAP;
  const avail = holder.clientWidth || 1000;
  // Left to right when it fits or the screen is wide (then it scrolls); a phone gets a column.
  const vertical = natural > avail && avail < 640;
  const pivot = t.pivot_after ? t.steps.findIndex((st) => st.name === t.pivot_after) : -1;
  const anyComp = t.steps.some((st) => st.compensable);
  const top = vertical ? 10 : 26; // room for the pivot label above the row

  const at = (i, comp) =>
    vertical
      ? { x: M + (comp ? W + CROSS : 0), y: top + i * (H + GAP) }
      : { x: M + i * (W + GAP), y: top + (comp ? H + CROSS : 0) };
  const width = vertical ? 2 * M + W + (anyComp ? CROSS + W : 0) : natural;
  const height = vertical ? top + n * H + Math.max(0, n - 1) * GAP + M : top + H + (anyComp ? CROSS + H : 0) + M;

  const arrowId = `arrow-${index}`;
  const backId = `arrow-back-${index}`;
  // A column that is still a little wider than a phone is drawn scaled to fit (the viewBox
  // keeps its proportions), so the compensations are never cut off at the edge.
  const fit = vertical ? Math.min(1, avail / width) : 1;
  const svg = s('svg', {
    class: `type-svg${vertical ? ' vertical' : ''}`,
    width: Math.floor(width * fit),
    height: Math.floor(height * fit),
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': `${t.name} v${t.version}: ${t.steps.map((st) => st.name).join(', then ')}${t.pivot_after ? `; pivot after ${t.pivot_after}` : ''}`,
  });
  svg.append(
    s(
      'defs',
      {},
      marker(arrowId, 'arrowhead'),
      marker(backId, 'arrowhead back'),
    ),
  );

  // Forward arrows between steps.
  for (let i = 0; i + 1 < n; i++) {
    const a = at(i, false);
    const b = at(i + 1, false);
    const [x1, y1, x2, y2] = vertical ? [a.x + W / 2, a.y + H, b.x + W / 2, b.y] : [a.x + W, a.y + H / 2, b.x, b.y + H / 2];
    svg.append(s('line', { x1, y1, x2: vertical ? x2 : x2 - 2, y2: vertical ? y2 - 2 : y2, class: 'flow', 'marker-end': `url(#${arrowId})` }));
  }

  // Compensations: a dashed link from each compensable step, and reverse arrows between them
  // (a failure compensates the latest step first).
  const comps = t.steps.map((st, i) => (st.compensable ? i : -1)).filter((i) => i >= 0);
  for (let k = comps.length - 1; k > 0; k--) {
    const a = at(comps[k], true);
    const b = at(comps[k - 1], true);
    const [x1, y1, x2, y2] = vertical ? [a.x + W / 2, a.y, b.x + W / 2, b.y + H + 2] : [a.x, a.y + H / 2, b.x + W + 2, b.y + H / 2];
    svg.append(s('line', { x1, y1, x2, y2, class: 'flow back', 'marker-end': `url(#${backId})` }));
  }

  t.steps.forEach((st, i) => {
    const p = at(i, false);
    svg.append(stepBox(st, p, { pivotStep: i === pivot, after: st.after_pivot }));
    if (st.compensable) {
      const c = at(i, true);
      const [x1, y1, x2, y2] = vertical ? [p.x + W, p.y + H / 2, c.x, c.y + H / 2] : [p.x + W / 2, p.y + H, c.x + W / 2, c.y];
      svg.append(s('line', { x1, y1, x2, y2, class: 'comp-link' }));
      svg.append(compBox(st, c));
    }
  });

  // The pivot: between the step before it and the next one.
  if (pivot >= 0) {
    const p = at(pivot, false);
    const g = s('g', { class: 'pivot-mark', 'data-pivot': t.pivot_after }, title(`pivot after ${t.pivot_after}: from here the workflow only moves forward`));
    if (vertical) {
      const yy = p.y + H + GAP / 2;
      g.append(
        s('line', { x1: 4, x2: width - 4, y1: yy, y2: yy, class: 'pivot-line' }),
        // Between the two columns, clear of the arrows.
        s('text', { x: M + W + 6, y: yy - 4, class: 'pivot-label' }, 'pivot'),
      );
    } else {
      const xx = p.x + W + GAP / 2;
      g.append(
        s('line', { x1: xx, x2: xx, y1: 6, y2: height - 4, class: 'pivot-line' }),
        s('text', { x: xx, y: 16, class: 'pivot-label', 'text-anchor': 'middle' }, 'pivot'),
      );
    }
    svg.append(g);
  }

  holder.classList.toggle('scrolls', !vertical && natural > avail);
  holder.replaceChildren(svg);
  // Long names and policies are cut to their box once the browser can measure them.
  for (const text of svg.querySelectorAll('.step text')) clampText(text, W - 16);
}

function marker(id, cls) {
  return s(
    'marker',
    { id, viewBox: '0 0 10 10', refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' },
    s('path', { d: 'M0,0 L10,5 L0,10 z', class: cls }),
  );
}

function stepBox(st, p, { pivotStep, after }) {
  return s(
    'g',
    {
      class: `step${after ? ' after-pivot' : ''}${pivotStep ? ' pivot-step' : ''}`,
      'data-step': st.name,
      'data-service': st.service,
      transform: `translate(${p.x},${p.y})`,
    },
    title(`${st.name} on ${st.service}${after ? ' (after the pivot: forward only)' : ''}\naction retry: ${retryText(st.action_retry)}\ntimeout: ${st.timeout_ms ? duration(st.timeout_ms) : '—'}`),
    s('rect', { width: W, height: H, rx: 6, class: 'box' }),
    s('text', { x: 10, y: 18, class: 'box-title' }, st.name),
    s('text', { x: 10, y: 34, class: 'box-service' }, `${st.service} service`),
    s('text', { x: 10, y: 50, class: 'box-retry' }, `↻ ${retryText(st.action_retry, { short: true })}`),
    s('text', { x: 10, y: 64, class: 'box-retry' }, `timeout ${st.timeout_ms ? duration(st.timeout_ms) : '—'}`),
  );
}

function compBox(st, p) {
  return s(
    'g',
    { class: 'step compensation', 'data-compensation': st.name, transform: `translate(${p.x},${p.y})` },
    title(`compensation of ${st.name} on ${st.service}\nretry: ${retryText(st.compensation_retry)}`),
    s('rect', { width: W, height: H, rx: 6, class: 'box' }),
    s('text', { x: 10, y: 18, class: 'box-title' }, st.name),
    s('text', { x: 10, y: 34, class: 'box-service' }, `↶ undo on ${st.service}`),
    s('text', { x: 10, y: 50, class: 'box-retry' }, `↻ ${retryText(st.compensation_retry, { short: true })}`),
    s('text', { x: 10, y: 64, class: 'box-retry' }, `timeout ${st.timeout_ms ? duration(st.timeout_ms) : '—'}`),
  );
}
