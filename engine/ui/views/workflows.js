// The workflow list: newest first, filtered by status and type, searchable by workflow id or
// Idempotency-Key, paged with the API's cursor. The first page refreshes every 2 s; later pages
// hold still (rows would shift under the reader). Filters and the search live in the hash
// (#/workflows?status=&type=&q=), so a reload or a shared link shows the same list.

import { api, ApiError } from '../api.js';
import { h, fill, badge, errorBox, report, sleep, loaded, keepFocus, STATUSES, TERMINAL } from '../dom.js';
import { timeEl, between, ago, clock } from '../format.js';

const REFRESH_MS = 2000;
const PAGE = 50;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export async function mount(root, { signal, route, setLive }) {
  document.title = 'Workflows · Sagaflow';
  const state = {
    status: STATUSES.includes(route.params.status) ? route.params.status : '',
    type: route.params.type || '',
    q: (route.params.q || '').trim(),
    cursor: null, // the cursor of the page shown; null on the first page
    next: null, // the API's next_cursor for this page
    page: 1,
  };
  let generation = 0; // answers to superseded requests are dropped

  const box = errorBox();
  const updated = h('span', { class: 'updated muted' });
  const statusSelect = h(
    'select',
    { id: 'filter-status', name: 'status' },
    h('option', { value: '' }, 'all statuses'),
    STATUSES.map((st) => h('option', { value: st }, st)),
  );
  statusSelect.value = state.status;
  const typeSelect = h('select', { id: 'filter-type', name: 'type' }, h('option', { value: '' }, 'all types'));
  const search = h('input', {
    id: 'search',
    type: 'search',
    name: 'q',
    placeholder: 'workflow id or Idempotency-Key',
    spellcheck: 'false',
    autocomplete: 'off',
    'aria-label': 'Search by workflow id or Idempotency-Key',
  });
  search.value = state.q;
  const searchNote = h('p', { class: 'search-note small', hidden: true });
  const tbody = h('tbody');
  const nextButton = h('button', { type: 'button', id: 'next-page' }, 'Next page →');
  const firstButton = h('button', { type: 'button', id: 'first-page' }, '⇤ First page');
  const pageInfo = h('span', { class: 'muted small' });

  const form = h(
    'form',
    { class: 'filters', role: 'search', onsubmit: (e) => (e.preventDefault(), runSearch()) },
    h('label', { class: 'control' }, h('span', {}, 'Status'), statusSelect),
    h('label', { class: 'control' }, h('span', {}, 'Type'), typeSelect),
    h(
      'span',
      { class: 'control control-search' },
      h('label', { for: 'search' }, 'Search'),
      h('span', { class: 'search-row' }, search, h('button', { type: 'submit', id: 'search-go' }, 'Find')),
    ),
  );

  fill(
    root,
    h('div', { class: 'view-head' }, h('h1', {}, 'Workflows'), updated),
    form,
    searchNote,
    box.el,
    h(
      'div',
      { class: 'table-scroll' },
      h(
        'table',
        { id: 'workflow-list', class: 'data rows' },
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            h('th', { scope: 'col' }, 'workflow id'),
            h('th', { scope: 'col' }, 'type'),
            h('th', { scope: 'col' }, 'status'),
            h('th', { scope: 'col' }, 'created'),
            h('th', { scope: 'col' }, 'finished'),
            h('th', { scope: 'col', class: 'num' }, 'duration'),
          ),
        ),
        tbody,
      ),
    ),
    h('div', { class: 'pager' }, firstButton, nextButton, pageInfo),
  );

  statusSelect.addEventListener('change', () => filtersChanged());
  typeSelect.addEventListener('change', () => filtersChanged());
  nextButton.addEventListener('click', () => {
    if (!state.next) return;
    state.cursor = state.next;
    state.page += 1;
    load();
  });
  firstButton.addEventListener('click', () => {
    state.cursor = null;
    state.page = 1;
    load();
  });

  // The types for the filter; a failure here leaves the list usable (only the type in the
  // hash is offered) and shows its error.
  api('/v1/workflow-types', { signal })
    .then((answer) => fillTypes(typeSelect, answer.workflow_types || [], state.type))
    .catch((err) => {
      fillTypes(typeSelect, [], state.type);
      report(err, box, signal);
    });
  fillTypes(typeSelect, [], state.type);

  function filtersChanged() {
    state.status = statusSelect.value;
    state.type = typeSelect.value;
    state.q = ''; // a filter change leaves the search: the two are different questions
    search.value = '';
    toFirstPage();
  }

  function runSearch() {
    state.q = search.value.trim();
    toFirstPage();
  }

  function toFirstPage() {
    state.cursor = null;
    state.page = 1;
    // pushState, not location.hash: no hashchange, so the view (and focus) stays.
    const params = new URLSearchParams();
    for (const key of ['status', 'type', 'q']) if (state[key]) params.set(key, state[key]);
    const text = params.toString();
    history.pushState(null, '', `#/workflows${text ? `?${text}` : ''}`);
    load();
  }

  async function load() {
    const mine = ++generation;
    try {
      const page = state.q ? await find(state.q, signal) : await list(state, signal);
      if (signal.aborted || mine !== generation) return;
      state.next = page.next_cursor || null;
      render(page);
      box.clear();
      loaded(root);
    } catch (err) {
      if (mine === generation) report(err, box, signal);
    }
  }

  function render(page) {
    const rows = page.workflows || [];
    keepFocus(tbody, 'data-workflow-id', () =>
      fill(
        tbody,
        rows.length
          ? rows.map(row)
          : h('tr', { class: 'empty-row' }, h('td', { colspan: 6, class: 'empty' }, page.empty || 'No workflows match.')),
      ),
    );
    nextButton.disabled = !state.next;
    firstButton.disabled = state.page === 1;
    pageInfo.textContent = state.q ? '' : `page ${state.page} · ${rows.length} row${rows.length === 1 ? '' : 's'}${state.page === 1 ? ' · refreshing every 2 s' : ''}`;
    searchNote.hidden = !state.q;
    fill(
      searchNote,
      'Showing the workflow whose id or Idempotency-Key is ',
      h('code', {}, state.q),
      ' (the filters do not apply). ',
      h('button', { type: 'button', class: 'link', onclick: () => ((search.value = ''), runSearch()) }, 'Clear the search'),
    );
    fill(updated, `updated ${clock(new Date().toISOString(), { millis: false })}`);
  }

  setLive(true);
  await load();
  while (!signal.aborted) {
    await sleep(REFRESH_MS, signal);
    if (signal.aborted) return;
    // Only the first page moves; a later page is a fixed slice the reader is looking at.
    if (state.page === 1) await load();
    setLive(state.page === 1);
  }
}

function fillTypes(select, types, wanted) {
  const names = [...new Set(types.map((t) => t.name))].sort();
  if (wanted && !names.includes(wanted)) names.push(wanted);
  const keep = select.value || wanted;
  fill(select, h('option', { value: '' }, 'all types'), names.map((n) => h('option', { value: n }, n)));
  select.value = keep;
}

function list(state, signal) {
  return api('/v1/workflows', {
    query: { status: state.status, type: state.type, limit: PAGE, cursor: state.cursor },
    signal,
  });
}

/**
 * A search: a UUID is first looked up as a workflow id, then (404) as an Idempotency-Key, since
 * a key may well be a UUID too; anything else is a key. Answers a list page either way.
 */
async function find(q, signal) {
  if (UUID.test(q)) {
    try {
      const w = await api(`/v1/workflows/${encodeURIComponent(q)}`, { signal });
      return { workflows: [w], next_cursor: null };
    } catch (err) {
      if (!(err instanceof ApiError) || err.code !== 'NOT_FOUND') throw err;
    }
  }
  const page = await api('/v1/workflows', { query: { idempotency_key: q }, signal });
  return { ...page, next_cursor: null, empty: 'No workflow has this id or Idempotency-Key.' };
}

function row(w) {
  const terminal = TERMINAL.has(w.status);
  return h(
    'tr',
    { 'data-workflow-id': w.id },
    h('td', { class: 'c-id' }, h('a', { href: `#/workflows/${w.id}`, class: 'mono', 'data-workflow-id': w.id }, w.id)),
    h('td', { class: 'c-type', 'data-field': 'type' }, w.type),
    h('td', { class: 'c-status' }, badge(w.status, { 'data-field': 'status' })),
    h('td', { class: 'c-created nowrap' }, timeEl(w.created_at), h('span', { class: 'muted small' }, ` ${ago(w.created_at)}`)),
    h('td', { class: 'c-finished nowrap' }, w.finished_at ? timeEl(w.finished_at) : h('span', { class: 'muted' }, '—')),
    h('td', { class: `c-duration num${terminal ? '' : ' muted'}` }, between(w.created_at, w.finished_at)),
  );
}
