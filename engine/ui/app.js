// The console's entry point: theme, hash router, token form.
//
// Routes (one page, hash routing so the engine serves one file):
//   #/                          overview
//   #/workflows?status=&type=&q= the list
//   #/workflows/<id>            one workflow
//   #/types                     the loaded workflow types
// Each route change aborts the previous view's AbortController: its timers, long polls and
// listeners all end with it, so no view keeps polling in the background.

import { setUnauthorizedHandler, setToken } from './api.js';
import { h, fill } from './dom.js';
import * as overview from './views/overview.js';
import * as workflows from './views/workflows.js';
import * as workflow from './views/workflow.js';
import * as types from './views/types.js';

const THEME_KEY = 'sagaflow.theme';
const view = document.getElementById('view');
const authSection = document.getElementById('auth');
let current = null; // { controller, key }

// ---- theme --------------------------------------------------------------------------------

// Order: ?theme= in the URL (read once, handy for screenshots), then the choice made in this
// tab, then the system's prefers-color-scheme. Always written to data-theme so CSS needs one rule.
function initialTheme() {
  const fromUrl = new URLSearchParams(location.search).get('theme');
  if (fromUrl === 'dark' || fromUrl === 'light') return fromUrl;
  try {
    const saved = sessionStorage.getItem(THEME_KEY);
    if (saved === 'dark' || saved === 'light') return saved;
  } catch {
    // storage disabled: fall through to the system preference
  }
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  const button = document.getElementById('theme');
  const other = theme === 'dark' ? 'light' : 'dark';
  button.querySelector('.theme-icon').textContent = theme === 'dark' ? '☀' : '☾';
  button.querySelector('.theme-text').textContent = theme === 'dark' ? 'Light' : 'Dark';
  button.setAttribute('aria-label', `Switch to the ${other} theme`);
  button.title = `Switch to the ${other} theme`;
}

document.getElementById('theme').addEventListener('click', () => {
  const next = document.documentElement.dataset.theme === 'dark' ? 'light' : 'dark';
  applyTheme(next);
  try {
    sessionStorage.setItem(THEME_KEY, next);
  } catch {
    // not kept: fine
  }
});

applyTheme(initialTheme());

// ---- routing ------------------------------------------------------------------------------

/** Splits the hash into a route: { name, id?, params }. */
export function parseHash(hash = location.hash) {
  const raw = hash.replace(/^#/, '') || '/';
  const [path, query = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean);
  const params = Object.fromEntries(new URLSearchParams(query));
  if (parts.length === 0) return { name: 'overview', params };
  if (parts[0] === 'workflows' && parts.length === 1) return { name: 'workflows', params };
  if (parts[0] === 'workflows' && parts.length === 2) {
    return { name: 'workflow', id: decodeURIComponent(parts[1]), params };
  }
  if (parts[0] === 'types' && parts.length === 1) return { name: 'types', params };
  return { name: 'notfound', params };
}

const VIEWS = { overview, workflows, workflow, types };

function route({ focus = true } = {}) {
  const r = parseHash();
  if (current) current.controller.abort();
  const controller = new AbortController();
  current = { controller, route: r };

  for (const link of document.querySelectorAll('nav a[data-nav]')) {
    const active = link.dataset.nav === r.name || (r.name === 'workflow' && link.dataset.nav === 'workflows');
    if (active) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }

  authSection.hidden = true;
  view.hidden = false;
  delete view.dataset.loaded;
  view.dataset.view = r.name;
  view.replaceChildren();
  setLive(false);

  const module = VIEWS[r.name];
  if (!module) {
    document.title = 'Not found · Sagaflow';
    fill(view, h('h1', {}, 'Not found'), h('p', {}, 'No page here. ', h('a', { href: '#/' }, 'Go to the overview.')));
    return;
  }
  // Move keyboard focus to the new view (skipping the nav), but not on the first load.
  if (focus) view.focus({ preventScroll: true });
  window.scrollTo(0, 0);
  const ctx = { signal: controller.signal, route: r, setLive };
  Promise.resolve()
    .then(() => module.mount(view, ctx))
    .catch((err) => showUiError(err));
}

/** The small "live" marker in the top bar: on while a view refreshes by itself. */
function setLive(on) {
  const marker = document.getElementById('live');
  marker.hidden = !on;
}

// The workflow list changes the hash itself with history.pushState (so a filter change keeps
// focus on the select); hashchange is not fired then, and the back button fires it again.
window.addEventListener('hashchange', () => route());

// ---- auth ---------------------------------------------------------------------------------

// A 401 from any call: stop the view, remove every bit of data from the page and ask for a
// token. The view's own catch blocks ignore the 401 (see dom.report).
setUnauthorizedHandler((tokenWasSent) => {
  if (current) current.controller.abort();
  view.replaceChildren();
  delete view.dataset.loaded;
  view.hidden = true;
  setLive(false);
  document.getElementById('auth-refused').hidden = !tokenWasSent;
  if (authSection.hidden) {
    authSection.hidden = false;
    const input = document.getElementById('token');
    input.value = '';
    input.focus();
  }
});

document.getElementById('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = document.getElementById('token');
  const value = input.value.trim();
  if (!value) return;
  setToken(value);
  input.value = '';
  route();
});

// ---- last-resort errors -------------------------------------------------------------------

// Every view catches its own failures; should one slip through, show it in the page (the
// console stays clean and the operator still sees it).
function showUiError(err) {
  if (err && (err.name === 'AbortError' || err.status === 401)) return;
  const box = document.getElementById('ui-error');
  fill(box, h('code', {}, (err && err.code) || 'UI_ERROR'), ' ', (err && err.message) || String(err));
  box.hidden = false;
}

window.addEventListener('unhandledrejection', (event) => {
  event.preventDefault();
  showUiError(event.reason);
});

route({ focus: false });
