// Small DOM helpers. Everything is built with createElement and text nodes, never innerHTML,
// so values from the journal (requests, error messages) can never become markup; and no
// style="" attribute is ever written (the CSP forbids inline styles): looks come from classes.

import { isAbort } from './api.js';

/**
 * h('a', {href: '#/', class: 'x', 'data-id': 1, onclick: fn}, 'text', child, [more])
 * Attributes: `class`, `data-*`/`aria-*`/others via setAttribute, `on<event>` listeners,
 * booleans (true sets an empty attribute, false/null/undefined leave it out).
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export function setAttrs(el, attrs) {
  if (!attrs) return el;
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'value' && 'value' in el) {
      el.value = value;
    } else {
      el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replaces every child of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

/** The status badge: its text is exactly the status (the tests read it). */
export function badge(status, attrs = {}) {
  return h('span', { class: `badge s-${status}`, ...attrs }, status);
}

export function dash() {
  return '—';
}

/** Pretty JSON for a <pre>; `null`/missing shows as a dash. */
export function json(value) {
  if (value === undefined || value === null) return '—';
  return JSON.stringify(value, null, 2);
}

/**
 * An in-page error line for a view: `set(err)` shows the API's code and message,
 * `clear()` hides it. Never alert(), never the console.
 */
export function errorBox() {
  const el = h('div', { class: 'error-box', role: 'alert', hidden: true });
  return {
    el,
    set(err) {
      const code = (err && err.code) || 'ERROR';
      const message = (err && err.message) || String(err);
      el.dataset.errorCode = code;
      fill(el, h('code', {}, code), ' ', message);
      el.hidden = false;
    },
    clear() {
      if (el.hidden) return;
      el.hidden = true;
      delete el.dataset.errorCode;
      el.replaceChildren();
    },
  };
}

/**
 * What a view does with a failed call: nothing when the view is gone (aborted) or the API
 * asked for a token (the app shows the token form instead); otherwise show it in `box`.
 */
export function report(err, box, signal) {
  if (isAbort(err, signal)) return;
  if (err && err.status === 401) return;
  box.set(err);
}

/** Resolves after `ms`, or at once when `signal` aborts (callers check signal.aborted). */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal && signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      if (signal) signal.removeEventListener('abort', done);
      resolve();
    }
    if (signal) signal.addEventListener('abort', done, { once: true });
  });
}

/** Marks a view's root as rendered; set again after every refresh (the tests wait on it). */
export function loaded(root) {
  root.dataset.loaded = 'true';
}

/** A "label: value" pair for a <dl>. */
export function field(label, value, attrs = {}) {
  return [h('dt', {}, label), h('dd', attrs, value)];
}

export const STATUSES = ['pending', 'running', 'compensating', 'completed', 'compensated', 'failed'];
export const TERMINAL = new Set(['completed', 'compensated', 'failed']);

/**
 * Calls `fn` when `el`'s width changes (window resize, a scrollbar coming or going), until
 * `signal` aborts. The call is deferred to the next frame, so a redraw that changes the page's
 * height never re-enters the observer in the same frame.
 */
export function onWidthChange(el, fn, signal) {
  let width = el.clientWidth;
  let frame = 0;
  const observer = new ResizeObserver(() => {
    cancelAnimationFrame(frame);
    frame = requestAnimationFrame(() => {
      if (signal.aborted || el.clientWidth === width) return;
      width = el.clientWidth;
      fn();
    });
  });
  observer.observe(el);
  signal.addEventListener('abort', () => {
    cancelAnimationFrame(frame);
    observer.disconnect();
  }, { once: true });
}

/**
 * Rebuilds part of a live view without losing keyboard focus: if the focused element inside
 * `container` carries `attr`, the element with the same value gets focus back afterwards.
 */
export function keepFocus(container, attr, rebuild) {
  const active = document.activeElement;
  const key = active && container.contains(active) ? active.getAttribute(attr) : null;
  rebuild();
  if (key === null) return;
  const again = [...container.querySelectorAll(`${active.tagName}[${attr}]`)].find((el) => el.getAttribute(attr) === key);
  if (again) again.focus({ preventScroll: true });
}
