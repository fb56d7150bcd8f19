// Hand-written SVG: an element builder and the few bits of chart arithmetic the views share.
// Geometry goes in SVG attributes (allowed by the CSP); colours come from CSS classes so both
// themes apply.

import { setAttrs, append } from './dom.js';

const NS = 'http://www.w3.org/2000/svg';

/** s('rect', {x: 1, class: 'bar'}, child...) — like h() but in the SVG namespace. */
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** A <title> child: the native tooltip, also read by screen readers. */
export function title(text) {
  return s('title', {}, text);
}

/** Rounds to 0.1 px so the markup stays short. */
export function px(value) {
  return Math.round(value * 10) / 10;
}

/** Maps [d0, d1] onto [r0, r1]. */
export function scale(d0, d1, r0, r1) {
  const span = d1 - d0 || 1;
  return (v) => r0 + ((v - d0) / span) * (r1 - r0);
}

/** The smallest 1-2-5 step that leaves at most `maxTicks` intervals over `span`. */
export function niceStep(span, maxTicks) {
  if (!(span > 0)) return 1;
  const raw = span / Math.max(1, maxTicks);
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) {
    if (m * power >= raw) return m * power;
  }
  return 10 * power;
}

/** A time step for axes in milliseconds: 1-2-5 below a second, then 1/2/5/10/15/30 s, minutes. */
export function timeStep(spanMs, maxTicks) {
  const raw = spanMs / Math.max(1, maxTicks);
  if (raw <= 1000) return niceStep(spanMs, maxTicks);
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400].map((x) => x * 1000);
  return steps.find((step) => step >= raw) || niceStep(spanMs, maxTicks);
}

/** A hatch pattern for <defs>, used by `fill="url(#id)"` (backoff gaps). */
export function hatch(id, cls) {
  return s(
    'pattern',
    { id, width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
    s('rect', { width: 6, height: 6, class: `${cls}-bg` }),
    s('line', { x1: 0, y1: 0, x2: 0, y2: 6, class: cls }),
  );
}

/**
 * Shortens an SVG <text> (already in the document) with an ellipsis until it fits `maxWidth`
 * pixels; the full text stays in `data-full` (and in the element's <title>, when it has one).
 */
export function clampText(text, maxWidth) {
  if (!text.isConnected || typeof text.getComputedTextLength !== 'function') return;
  const node = [...text.childNodes].find((n) => n.nodeType === Node.TEXT_NODE);
  if (!node || text.getComputedTextLength() <= maxWidth) return;
  const full = node.data;
  text.setAttribute('data-full', full);
  let keep = full.length - 1;
  while (keep > 1) {
    node.data = `${full.slice(0, keep)}…`;
    if (text.getComputedTextLength() <= maxWidth) return;
    keep -= 1;
  }
}
