// Time and number formatting. The API's times are RFC 3339 UTC strings from the database
// clock; the console shows them in the browser's local time, with the full ISO string in a
// title for copy and for other time zones.

import { h } from './dom.js';

const pad = (n, width = 2) => String(n).padStart(width, '0');

/** Milliseconds since the epoch, or NaN for a missing time. */
export function ms(iso) {
  return iso ? Date.parse(iso) : NaN;
}

/** "14:03:07.123" today, "2024-05-01 14:03:07" on another day. */
export function clock(iso, { millis = true } = {}) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  const today = new Date();
  const sameDay =
    d.getFullYear() === today.getFullYear() && d.getMonth() === today.getMonth() && d.getDate() === today.getDate();
  if (sameDay) return millis ? `${time}.${pad(d.getMilliseconds(), 3)}` : time;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
}

/** A <time> element showing the local clock time, the ISO string as its title. */
export function timeEl(iso, opts) {
  if (!iso) return '—';
  return h('time', { datetime: iso, title: iso }, clock(iso, opts));
}

/** A duration: "850 µs", "12 ms", "1.25 s", "2 m 05 s", "3 h 07 m". */
export function duration(milliseconds) {
  if (!Number.isFinite(milliseconds)) return '—';
  const v = Math.max(0, milliseconds);
  if (v < 1) return `${Math.round(v * 1000)} µs`;
  if (v < 1000) return `${v < 10 ? v.toFixed(1).replace(/\.0$/, '') : Math.round(v)} ms`;
  if (v < 60_000) return `${(v / 1000).toFixed(v < 10_000 ? 2 : 1).replace(/\.?0+$/, '')} s`;
  const s = Math.round(v / 1000);
  if (s < 3600) return s % 60 ? `${Math.floor(s / 60)} m ${pad(s % 60)} s` : `${s / 60} m`;
  const m = Math.round(s / 60);
  if (m < 48 * 60) return `${Math.floor(m / 60)} h ${pad(m % 60)} m`;
  return `${Math.floor(m / 1440)} d ${Math.floor((m % 1440) / 60)} h`;
}

/** The time from `fromIso` to `toIso` (or to now). */
export function between(fromIso, toIso) {
  const from = ms(fromIso);
  const to = toIso ? ms(toIso) : Date.now();
  return duration(to - from);
}

/** "5 s ago", "3 min ago", "2 h ago", "4 d ago" (relative to the browser clock). */
export function ago(iso, now = Date.now()) {
  const t = ms(iso);
  if (!Number.isFinite(t)) return '—';
  const s = Math.max(0, Math.round((now - t) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

/** An axis label for an offset in ms from the start: "0", "250 ms", "1.5 s", "2 m 30 s". */
export function offset(milliseconds, step) {
  const v = Math.round(milliseconds);
  if (v === 0) return '0';
  if (v < 1000) return `${v} ms`;
  if (v < 60_000) return `${trim(v / 1000, step < 1000 ? 3 : 1)} s`;
  const m = Math.floor(v / 60_000);
  const s = Math.round((v % 60_000) / 1000);
  return s ? `${m} m ${s} s` : `${m} m`;
}

function trim(value, digits) {
  return value.toFixed(digits).replace(/\.?0+$/, '');
}

/** An integer with thin thousands separators. */
export function count(n) {
  if (n === null || n === undefined) return '—';
  return Number(n).toLocaleString('en-US');
}

/** A share as a percentage: "0 %", "0.8 %", "12 %". */
export function percent(part, whole) {
  if (!whole) return '—';
  const p = (100 * part) / whole;
  if (p === 0) return '0 %';
  return `${p < 10 ? p.toFixed(1) : Math.round(p)} %`;
}

/** A rate per second: "0", "0.3", "12". */
export function rate(perSecond) {
  if (!perSecond) return '0';
  return perSecond < 10 ? trim(perSecond, 2) : String(Math.round(perSecond));
}
