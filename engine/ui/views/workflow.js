// One workflow: its header, the timeline of its journal, every activity with its request,
// response and attempts, the input and outputs, and the operator's two actions (abort, retry).
//
// Live: while the workflow is not terminal the view long-polls GET /v1/workflows/{id}?wait=2s
// (the server holds it until the workflow ends or 2 s pass) and re-renders each answer, keeping
// open <details> open and focus where it was. The loop ends with the view (AbortController).

import { api } from '../api.js';
import { h, fill, badge, errorBox, report, sleep, loaded, keepFocus, onWidthChange, json, TERMINAL } from '../dom.js';
import { timeEl, between, duration, clock, ms } from '../format.js';
import { drawTimeline } from './timeline.js';

const POLL = '2s';
const MIN_POLL_MS = 500; // a server that answers a long poll at once must not make us spin

export async function mount(root, { signal, route, setLive }) {
  const id = route.id;
  document.title = `Workflow ${id.slice(0, 13)}… · Sagaflow`;
  const box = errorBox();
  const f = {}; // the header's value cells, by name
  const cell = (name, attrs = {}) => (f[name] = h('dd', attrs, '—'));
  const updated = h('span', { class: 'updated muted' });
  const abortButton = h('button', { type: 'button', id: 'abort', class: 'danger', hidden: true }, 'Abort…');
  const retryButton = h('button', { type: 'button', id: 'retry', class: 'primary', hidden: true }, 'Retry…');
  const hint = h('span', { class: 'hint small', hidden: true });
  const answer = h('p', { id: 'answer', role: 'status', 'aria-live': 'polite', class: 'answer' });
  const timelineBox = h('div', { class: 'timeline' });
  const activitiesBox = h('div', { class: 'activities' });
  const inputPre = h('pre', { id: 'input', class: 'json', tabindex: 0 }, '—');
  const outputsPre = h('pre', { id: 'outputs', class: 'json', tabindex: 0 }, '—');
  // Hidden until the workflow is read: a failed first read shows only its error.
  const content = h('div', { class: 'wf-content', hidden: true });

  fill(
    root,
    h(
      'div',
      { class: 'view-head' },
      h('h1', {}, h('a', { href: '#/workflows', class: 'crumb' }, 'Workflows'), ' / ', h('span', { class: 'mono id' }, id)),
      updated,
    ),
    box.el,
    content,
  );
  content.append(
    h(
      'section',
      { class: 'panel wf-head', 'aria-label': 'Workflow' },
      h(
        'dl',
        { class: 'fields' },
        h('div', {}, h('dt', {}, 'status'), h('dd', {}, (f.status = h('span', { class: 'badge', 'data-field': 'status' }, '—')))),
        h('div', {}, h('dt', {}, 'type'), cell('type', { 'data-field': 'type' })),
        h('div', {}, h('dt', {}, 'version'), cell('version', { 'data-field': 'version' })),
        h('div', {}, h('dt', {}, 'created'), cell('created')),
        h('div', {}, h('dt', {}, 'finished'), cell('finished')),
        h('div', {}, h('dt', {}, 'duration'), cell('duration')),
        h('div', {}, h('dt', {}, 'current step'), cell('current')),
        h('div', {}, h('dt', {}, 'failed step'), cell('failedStep', { 'data-field': 'failed-step' })),
        h('div', {}, h('dt', {}, 'error code'), cell('errorCode', { 'data-field': 'error-code', class: 'mono' })),
        h('div', { class: 'wide' }, h('dt', {}, 'error message'), cell('errorMessage', { 'data-field': 'error-message' })),
        h('div', { class: 'wide' }, h('dt', {}, 'parked reason'), cell('parkedReason', { 'data-field': 'parked-reason' })),
        h('div', {}, h('dt', {}, 'Idempotency-Key'), cell('idempotencyKey', { 'data-field': 'idempotency-key', class: 'mono' })),
        h('div', {}, h('dt', {}, 'abort requested'), cell('abortRequested', { 'data-field': 'abort-requested' })),
        // Who acted (the API's authenticated subjects): shown only when the server recorded one.
        (f.submittedByRow = h('div', { hidden: true }, h('dt', {}, 'submitted by'), cell('submittedBy', { 'data-field': 'submitted-by', class: 'mono' }))),
        (f.abortedByRow = h('div', { hidden: true }, h('dt', {}, 'aborted by'), cell('abortedBy', { 'data-field': 'aborted-by', class: 'mono' }))),
        (f.retriedByRow = h('div', { hidden: true }, h('dt', {}, 'retried by'), cell('retriedBy', { 'data-field': 'retried-by', class: 'mono' }))),
      ),
      h('div', { class: 'actions' }, abortButton, retryButton, hint),
      answer,
    ),
    h(
      'section',
      { class: 'panel' },
      h('h2', {}, 'Timeline'),
      timelineLegend(),
      timelineBox,
    ),
    h('section', { class: 'panel' }, h('h2', {}, 'Activities'), h('p', { class: 'muted small' }, 'In journal order: actions forward, then compensations in reverse.'), activitiesBox),
    h(
      'div',
      { class: 'grid grid-1-1' },
      h('section', { class: 'panel' }, h('h2', {}, 'Input'), inputPre),
      h('section', { class: 'panel' }, h('h2', {}, 'Outputs'), outputsPre),
    ),
  );

  let wf = null;
  let def = null;
  let lastActivities = '';
  let polling = false;

  const now = () => {
    // The browser clock, but never before the newest time the server told us (clock skew
    // would draw running bars backwards).
    let latest = Date.now();
    if (wf) latest = Math.max(latest, ms(wf.updated_at) || 0);
    return latest;
  };

  function render() {
    const w = wf;
    const terminal = TERMINAL.has(w.status);
    const steps = def ? def.steps : [];
    const nameOf = (step) => (steps[step] && steps[step].name) || (w.activities.find((a) => a.step === step) || {}).name || `step ${step}`;

    f.status.textContent = w.status;
    f.status.className = `badge s-${w.status}`;
    f.type.replaceChildren(h('a', { href: `#/workflows?type=${encodeURIComponent(w.type)}` }, w.type));
    f.type.dataset.value = w.type;
    f.version.textContent = String(w.version);
    fill(f.created, timeEl(w.created_at));
    fill(f.finished, w.finished_at ? timeEl(w.finished_at) : '—');
    fill(
      f.duration,
      w.finished_at ? between(w.created_at, w.finished_at) : duration(now() - ms(w.created_at)),
      terminal ? '' : h('span', { class: 'muted' }, ' so far'),
    );
    f.current.textContent = terminal ? '—' : `${w.current_kind} of ${nameOf(w.current_step)}`;
    f.failedStep.textContent = w.failed_step === null || w.failed_step === undefined ? '—' : nameOf(w.failed_step);
    f.errorCode.textContent = w.error ? w.error.code : '—';
    // Monospace only for a real value: a dash in the code font is a short stub.
    f.errorCode.classList.toggle('mono', Boolean(w.error));
    f.errorMessage.textContent = w.error ? w.error.message : '—';
    f.parkedReason.textContent = w.parked_reason || '—';
    f.idempotencyKey.textContent = w.idempotency_key || '—';
    f.idempotencyKey.classList.toggle('mono', Boolean(w.idempotency_key));
    f.abortRequested.textContent = w.abort_requested ? 'yes' : 'no';
    for (const [row, value, subject] of [
      [f.submittedByRow, f.submittedBy, w.submitted_by],
      [f.abortedByRow, f.abortedBy, w.aborted_by],
      [f.retriedByRow, f.retriedBy, w.retried_by],
    ]) {
      row.hidden = !subject;
      value.textContent = subject || '—';
    }

    // Abort: offered for every non-terminal status; the API decides (409 past the pivot), and
    // a hint says so when the journal already shows the pivot passed.
    abortButton.hidden = terminal;
    retryButton.hidden = w.status !== 'failed';
    const pivotPassed = passedPivot(w, def);
    const hints = [];
    if (!terminal && pivotPassed) hints.push(`The journal shows the pivot passed (${def.pivot_after} succeeded): the engine will refuse an abort.`);
    if (!terminal && w.abort_requested) hints.push('An abort was requested.');
    if (w.status === 'failed') hints.push('Parked: fix the cause, then retry — the stuck activity gets a fresh attempt budget.');
    hint.hidden = hints.length === 0;
    hint.textContent = hints.join(' ');

    drawTimeline(timelineBox, w, def, now());

    // Rebuild the activity list only when it changed, so open panels, text selection and
    // scrolling inside them survive the 2-second refresh.
    const snapshot = JSON.stringify(w.activities);
    if (snapshot !== lastActivities) {
      lastActivities = snapshot;
      const open = new Set([...activitiesBox.querySelectorAll('details[open]')].map((d) => d.dataset.activity));
      keepFocus(activitiesBox, 'data-summary', () =>
        fill(activitiesBox, w.activities.length ? w.activities.map((a) => activity(a, open)) : h('p', { class: 'empty' }, 'No activity yet.')),
      );
    }
    const input = json(w.input);
    if (inputPre.textContent !== input) inputPre.textContent = input;
    const outputs = json(w.outputs);
    if (outputsPre.textContent !== outputs) outputsPre.textContent = outputs;
    fill(updated, terminal ? 'final · ' : 'live · ', `updated ${clock(new Date().toISOString(), { millis: false })}`);
    setLive(!terminal);
  }

  async function fetchOnce(wait) {
    const next = await api(`/v1/workflows/${encodeURIComponent(id)}`, { query: { wait }, signal });
    if (signal.aborted) return;
    wf = next;
    render();
    box.clear();
    loaded(root);
  }

  async function poll() {
    if (polling) return;
    polling = true;
    try {
      while (!signal.aborted && wf && !TERMINAL.has(wf.status)) {
        const began = Date.now();
        try {
          await fetchOnce(POLL);
        } catch (err) {
          report(err, box, signal);
          await sleep(2000, signal);
        }
        const spent = Date.now() - began;
        if (spent < MIN_POLL_MS) await sleep(MIN_POLL_MS - spent, signal);
      }
    } finally {
      polling = false;
    }
  }

  // The operator's actions: confirm in a <dialog>, call, show the API's answer (or refusal).
  abortButton.addEventListener('click', () =>
    act('abort', `Abort workflow ${id}?`, 'Steps already taken are compensated in reverse order. The engine refuses once the pivot has passed.', 'Abort'),
  );
  retryButton.addEventListener('click', () =>
    act('retry', `Retry workflow ${id}?`, 'Its stuck activity gets a fresh attempt budget and is due at once.', 'Retry'),
  );

  async function act(action, question, detail, yesLabel) {
    const yes = await confirmDialog(question, detail, yesLabel, signal);
    if (!yes || signal.aborted) return;
    answer.removeAttribute('data-error-code');
    answer.className = 'answer';
    answer.textContent = `${yesLabel}: sending…`;
    try {
      const result = await api(`/v1/workflows/${encodeURIComponent(id)}/${action}`, { method: 'POST', signal });
      if (signal.aborted) return;
      answer.className = 'answer ok';
      // An abort of a workflow whose activity is running is decided when that attempt ends.
      const later = action === 'abort' && (result.status === 'running' || result.status === 'pending');
      fill(
        answer,
        `${yesLabel} accepted: the workflow is now `,
        badge(result.status),
        later ? ' — the abort is decided when the running attempt ends.' : '.',
      );
      answer.dataset.status = result.status;
    } catch (err) {
      if (signal.aborted || (err && err.status === 401)) return;
      answer.className = 'answer refused';
      answer.dataset.errorCode = err.code || 'ERROR';
      delete answer.dataset.status;
      fill(answer, `${yesLabel} refused: `, h('code', {}, err.code || 'ERROR'), ' ', err.message || String(err));
    }
    // Show the effect at once, and follow it live (a retry makes a parked workflow run again).
    try {
      await fetchOnce();
    } catch (err) {
      report(err, box, signal);
    }
    poll();
  }

  onWidthChange(timelineBox, () => wf && drawTimeline(timelineBox, wf, def, now()), signal);

  // First load: the workflow and the types (for the pivot and the step names) together.
  const typesP = api('/v1/workflow-types', { signal }).catch((err) => {
    report(err, box, signal);
    return null;
  });
  try {
    const [first, types] = await Promise.all([
      api(`/v1/workflows/${encodeURIComponent(id)}`, { signal }),
      typesP,
    ]);
    if (signal.aborted) return;
    wf = first;
    def = types ? (types.workflow_types || []).find((t) => t.name === wf.type && t.version === wf.version) || null : null;
    content.hidden = false; // first, so the timeline can measure its width
    render();
    loaded(root);
  } catch (err) {
    report(err, box, signal);
    return;
  }
  poll();
}

/** True when the journal shows the step before the pivot succeeded. */
function passedPivot(w, def) {
  if (!def || !def.pivot_after) return false;
  const index = def.steps.findIndex((st) => st.name === def.pivot_after);
  return w.activities.some((a) => a.kind === 'action' && a.step === index && a.status === 'succeeded');
}

function timelineLegend() {
  const item = (cls, text) => h('span', { class: 'legend-item' }, h('span', { class: `swatch ${cls}` }), text);
  return h(
    'p',
    { class: 'legend small' },
    item('o-succeeded', 'succeeded'),
    item('o-business_error', 'business error'),
    item('o-retryable_error', 'retryable error'),
    item('o-lease_expired', 'lease expired'),
    item('o-aborted', 'aborted'),
    item('gap', 'backoff'),
    item('open', 'running / waiting'),
    item('pivot', 'pivot'),
  );
}

/** One activity as a <details>: summary line, then request, response, error and attempts. */
function activity(a, open) {
  const key = `${a.kind}:${a.step}`;
  const last = a.attempts[a.attempts.length - 1];
  const took = a.attempts.reduce((sum, t) => sum + t.duration_us, 0) / 1000;
  const d = h(
    'details',
    { class: `activity lane-${a.kind}`, 'data-activity': key, open: open.has(key) },
    h(
      'summary',
      { 'data-summary': key },
      h('span', { class: 'kind' }, a.kind === 'action' ? 'action' : '↶ compensation'),
      h('span', { class: 'name' }, a.name),
      h('span', { class: `badge a-${a.status}` }, a.status),
      h('span', { class: 'muted small' }, `${a.attempt}/${a.max_attempts} attempts`),
      a.attempts.length ? h('span', { class: 'muted small' }, duration(took)) : null,
      a.error ? h('code', { class: 'small err' }, a.error.code) : null,
    ),
  );
  const body = h(
    'div',
    { class: 'activity-body' },
    h(
      'dl',
      { class: 'fields compact' },
      pair('step', `${a.step} (${a.name})`),
      pair('status', a.status),
      pair('attempts', `${a.attempt} of ${a.max_attempts}`),
      pair(a.status === 'leased' ? 'lease until' : 'due at', a.run_at && (a.status === 'leased' || a.status === 'ready') ? timeEl(a.run_at) : '—'),
      pair('lease owner', a.lease_owner || '—'),
      pair('created', timeEl(a.created_at)),
      pair('finished', a.finished_at ? timeEl(a.finished_at) : '—'),
      pair('error code', h('span', { 'data-field': 'activity-error-code', class: 'mono' }, a.error ? a.error.code : '—')),
      pair('error message', h('span', { 'data-field': 'activity-error-message' }, a.error ? a.error.message : '—'), 'wide'),
    ),
    h(
      'div',
      { class: 'grid grid-1-1' },
      h('div', {}, h('h3', {}, 'Request'), h('pre', { class: 'json', 'data-field': 'request', tabindex: 0 }, json(a.request))),
      h('div', {}, h('h3', {}, 'Response'), h('pre', { class: 'json', 'data-field': 'response', tabindex: 0 }, json(a.response))),
    ),
    h('h3', {}, 'Attempts'),
    a.attempts.length ? attemptsTable(a.attempts) : h('p', { class: 'muted small' }, last ? '' : 'No attempt has finished yet.'),
  );
  d.append(body);
  return d;
}

function pair(label, value, cls) {
  return h('div', { class: cls }, h('dt', {}, label), h('dd', {}, value));
}

function attemptsTable(attempts) {
  return h(
    'div',
    { class: 'table-scroll' },
    h(
      'table',
      { class: 'data attempts' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['#', 'outcome', 'started', 'finished', 'duration', 'backoff before', 'worker', 'error'].map((c) =>
            h('th', { scope: 'col', class: c === 'duration' || c === 'backoff before' || c === '#' ? 'num' : null }, c),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        attempts.map((t, i) => {
          const prev = attempts[i - 1];
          const backoff = prev ? ms(t.started_at) - ms(prev.finished_at) : NaN;
          return h(
            'tr',
            { 'data-attempt': t.attempt, 'data-outcome': t.outcome },
            h('td', { class: 'num' }, String(t.attempt)),
            h('td', {}, h('span', { class: `outcome o-${t.outcome}` }, t.outcome)),
            h('td', { class: 'nowrap' }, timeEl(t.started_at)),
            h('td', { class: 'nowrap' }, timeEl(t.finished_at)),
            h('td', { class: 'num' }, duration(t.duration_us / 1000)),
            h('td', { class: 'num muted' }, prev ? duration(backoff) : '—'),
            h('td', { class: 'mono small' }, t.worker || '—'),
            h('td', {}, t.error ? [h('code', {}, t.error.code), ' ', t.error.message] : '—'),
          );
        }),
      ),
    ),
  );
}

/**
 * Asks in dialog#confirm; resolves true for "yes". Escape, "Cancel" and leaving the view say
 * no. Focus starts on Cancel (the safe choice) and goes back to the button that opened it.
 */
function confirmDialog(question, detail, yesLabel, signal) {
  const dialog = document.getElementById('confirm');
  const yes = document.getElementById('confirm-yes');
  const no = document.getElementById('confirm-no');
  const opener = document.activeElement;
  document.getElementById('confirm-title').textContent = question;
  document.getElementById('confirm-text').textContent = detail;
  yes.textContent = yesLabel;
  return new Promise((resolve) => {
    const listeners = new AbortController();
    const done = (value) => {
      listeners.abort();
      if (dialog.open) dialog.close();
      if (opener && opener.isConnected && typeof opener.focus === 'function') opener.focus();
      resolve(value);
    };
    yes.addEventListener('click', () => done(true), { signal: listeners.signal });
    no.addEventListener('click', () => done(false), { signal: listeners.signal });
    dialog.addEventListener('cancel', (e) => (e.preventDefault(), done(false)), { signal: listeners.signal });
    signal.addEventListener('abort', () => done(false), { signal: listeners.signal });
    dialog.showModal();
    no.focus();
  });
}
