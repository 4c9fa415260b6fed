// Talking to the server: one function adds the token, this browser's device id, JSON, and an
// Idempotency-Key on every POST, and turns problem+json answers into ApiError.

const TOKEN_KEY = 'hongbao.token';
const DEVICE_KEY = 'hongbao.device';

export function token() {
  return localStorage.getItem(TOKEN_KEY) || '';
}

export function saveToken(value) {
  localStorage.setItem(TOKEN_KEY, value);
}

export function forgetToken() {
  localStorage.removeItem(TOKEN_KEY);
}

/** A random UUID, for Idempotency-Keys and the device id. */
export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 15) | 64;
  bytes[8] = (bytes[8] & 63) | 128;
  const hex = [...bytes].map(byte => byte.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** This browser's device id, made once: the server alerts the user when a new device uses the wallet. */
export function deviceId() {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id || !/^[A-Za-z0-9-]{1,128}$/.test(id)) {
    id = `web-${uuid()}`;
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

/** A refusal or failure the server (or the network) reported, with the problem's stable code. */
export class ApiError extends Error {
  constructor(problem, status) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.code = problem.code || '';
    this.problem = problem;
  }
}

/**
 * A request. Options: `key` (the Idempotency-Key of a POST, made afresh when absent), `headers`,
 * `type` (the content type of a text body), `text` (answer as text), `raw` (the Response itself).
 */
export async function api(method, path, body, options = {}) {
  const accept = options.text ? 'text/plain, application/toml, application/problem+json' : 'application/json, application/problem+json';
  const headers = { Accept: accept, 'X-Device-Id': deviceId(), ...options.headers };
  const bearer = options.token ?? token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  let payload;
  if (body instanceof FormData) payload = body;
  else if (options.type && typeof body === 'string') {
    headers['Content-Type'] = options.type;
    payload = body;
  } else if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    payload = JSON.stringify(body);
  }
  if (method === 'POST') headers['Idempotency-Key'] = options.key || uuid();
  let response;
  try {
    response = await fetch(path, { method, headers, body: payload, cache: 'no-store' });
  } catch {
    throw new ApiError({ code: 'network_error', detail: 'network_error' }, 0);
  }
  if (options.raw && response.ok) return response;
  const text = await response.text();
  if (options.text && response.ok) return text;
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const problem = data && typeof data === 'object' ? data : { title: response.statusText, detail: text.slice(0, 200) || `HTTP ${response.status}` };
    throw new ApiError(problem, response.status);
  }
  return data;
}

/** The items of a list answer. */
export const items = answer => (Array.isArray(answer) ? answer : (answer && answer.data) || []);

export const encode = encodeURIComponent;
