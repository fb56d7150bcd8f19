// The API client: one fetch wrapper for every /v1 call.
//
// Every failure becomes an ApiError carrying the API's own `{"error": {code, message}}`, so the
// views can show the code and the message in the page. A 401 also calls the handler the app
// registers (it swaps the view for the token form): the views only need to stay quiet about it.
// A 403 keeps the token (it is valid) and says in plain words that it lacks a permission.

const TOKEN_KEY = 'sagaflow.token';

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
  }
}

let onUnauthorized = () => {};

/** The app's handler for a 401 (called with whether a token was sent). */
export function setUnauthorizedHandler(handler) {
  onUnauthorized = handler;
}

// The token lives in sessionStorage: it survives a reload but not the tab, and is never
// written anywhere else.
export function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || '';
  } catch {
    return '';
  }
}

export function setToken(value) {
  try {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage disabled: the token then lasts until the page is left. Nothing to report.
  }
}

/**
 * Calls the API and answers the parsed JSON body.
 * `path` starts with /v1; `query` is an object whose empty values are left out.
 * Throws ApiError (or the fetch's AbortError when `signal` aborts it).
 */
export async function api(path, { method = 'GET', query, signal } = {}) {
  let url = path;
  if (query) {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
    }
    const text = params.toString();
    if (text) url += (url.includes('?') ? '&' : '?') + text;
  }
  const headers = { Accept: 'application/json' };
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;

  let response;
  try {
    response = await fetch(url, { method, headers, signal, cache: 'no-store', credentials: 'same-origin' });
  } catch (err) {
    if (signal && signal.aborted) throw err;
    throw new ApiError(0, 'NETWORK', `The engine did not answer (${err.message || err}).`);
  }

  let body = null;
  const text = await readText(response, signal);
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (response.ok) {
    if (body === null) throw new ApiError(response.status, 'BAD_ANSWER', 'The answer is not JSON.');
    return body;
  }
  const error = body && body.error;
  const code = (error && error.code) || `HTTP_${response.status}`;
  let message = (error && error.message) || response.statusText || 'request failed';
  if (response.status === 401) onUnauthorized(Boolean(bearer));
  if (response.status === 403) message = forbidden(message);
  throw new ApiError(response.status, code, message);
}

/** The message of a 403: the token is valid but lacks the scope this call needs. */
export function forbidden(serverMessage) {
  return `Your token is not allowed to do this (${serverMessage}). Ask for a token with that scope, or sign in with another token.`;
}

async function readText(response, signal) {
  try {
    return await response.text();
  } catch (err) {
    if (signal && signal.aborted) throw err;
    throw new ApiError(response.status, 'NETWORK', 'The answer was cut off.');
  }
}

/** True for the rejection of an aborted request (the view changed): never worth showing. */
export function isAbort(err, signal) {
  return (signal && signal.aborted) || (err && err.name === 'AbortError');
}
