// Siyu's JSON API, called with the shop's API key. The key lives in this tab's session
// storage only: gone when the tab closes, after 30 idle minutes, or on sign-out; never in a
// URL, a cookie or local storage.

import { t } from './i18n.js';

const KEY = 'siyu.key';
const SHOP = 'siyu.shop';
const OWNER = 'siyu.owner';
const ACTIVE = 'siyu.active';
/** Idle time after which the console asks for the key again. */
export const IDLE_MS = 30 * 60 * 1000;

export const session = {
  key: () => sessionStorage.getItem(KEY),
  shop: () => JSON.parse(sessionStorage.getItem(SHOP) || 'null'),
  isOwner: () => sessionStorage.getItem(OWNER) === 'true',
  start(key, shop, owner) {
    sessionStorage.setItem(KEY, key);
    sessionStorage.setItem(SHOP, JSON.stringify(shop));
    sessionStorage.setItem(OWNER, String(owner));
    session.touch();
  },
  remember(shop) {
    sessionStorage.setItem(SHOP, JSON.stringify(shop));
  },
  touch: () => sessionStorage.setItem(ACTIVE, String(Date.now())),
  expired() {
    const active = Number(sessionStorage.getItem(ACTIVE) || 0);
    return Boolean(session.key()) && Date.now() - active > IDLE_MS;
  },
  end() {
    for (const name of [KEY, SHOP, OWNER, ACTIVE]) sessionStorage.removeItem(name);
  },
};

/** An answer other than 2xx, with the API's error code and message. */
export class ApiFailure extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let onSignedOut = () => {};
/** What to do when the key stops working (revoked, rotated) or the session ran out. */
export function whenSignedOut(handler) {
  onSignedOut = handler;
}

/**
 * Calls the API; `body` is sent as JSON unless it is a string or Blob (then as `type`).
 * Resolves to the Response; rejects with ApiFailure.
 */
export async function call(path, { method = 'GET', body, type, key, headers = {} } = {}) {
  const presented = key || session.key();
  if (!key && session.expired()) {
    session.end();
    onSignedOut('expired');
    throw new ApiFailure(401, 'session_expired', t('signin.expired'));
  }
  const sent = { authorization: `Bearer ${presented}`, ...headers };
  let payload = body;
  if (body !== undefined && typeof body !== 'string' && !(body instanceof Blob)) {
    sent['content-type'] = 'application/json';
    payload = JSON.stringify(body);
  } else if (type) {
    sent['content-type'] = type;
  }
  let response;
  try {
    response = await fetch(path, { method, headers: sent, body: payload, cache: 'no-store', credentials: 'omit' });
  } catch {
    throw new ApiFailure(0, 'network', t('error.network'));
  }
  if (!key) session.touch();
  if (!response.ok) {
    let error = {};
    try {
      error = (await response.json()).error || {};
    } catch {
      // Not JSON (a proxy's page): the status says enough.
    }
    const failure = new ApiFailure(response.status, error.code || `http_${response.status}`,
      error.message || response.statusText || t('error.unknown'));
    if (response.status === 401 && !key) {
      session.end();
      onSignedOut('revoked');
    }
    throw failure;
  }
  return response;
}

export const getJson = async (path) => (await call(path)).json();
export const sendJson = async (method, path, body, headers) =>
  (await call(path, { method, body, headers })).json();

/** Every page of a cursor-paged list (`items`, `next_cursor`), up to `max` items. */
export async function allPages(path, max = 1000) {
  const items = [];
  let cursor = null;
  do {
    const joiner = path.includes('?') ? '&' : '?';
    const page = await getJson(cursor === null ? path : `${path}${joiner}cursor=${cursor}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor !== null && cursor !== undefined && items.length < max);
  return items;
}

/** The funnel's steps as the stats name them, with their labels. */
export const FUNNEL_STEPS = [
  ['scans', 'funnel.scans'], ['unique_scanners', 'funnel.unique'], ['leads', 'funnel.leads'],
  ['first_orders', 'funnel.first'], ['repurchases', 'funnel.repeat'],
];

/** RFM groups in the order the API defines them. */
export const RFM_GROUPS = ['champions', 'loyal', 'active', 'new', 'promising', 'needs_attention',
  'almost_lost', 'at_risk', 'dormant', 'previously_loyal', 'prospects'];

/**
 * Every page of a CSV export (`X-Next-Cursor` names the next), joined under the first
 * page's header; `pathAt(cursor)` is the URL of the page after `cursor` (null: the first).
 */
export async function csvPages(pathAt) {
  const parts = [];
  let cursor = null;
  do {
    const response = await call(pathAt(cursor));
    const text = await response.text();
    parts.push(parts.length ? text.slice(text.indexOf('\n') + 1) : text);
    cursor = response.headers.get('x-next-cursor');
  } while (cursor);
  const csv = parts.join('');
  return { csv, rows: Math.max(0, csv.trim().split('\n').length - 1) };
}

/** A chart of `series` over `labels`, drawn by the console component as SVG. */
export async function chartUrl(kind, labels, series) {
  const response = await fetch('/console/chart.svg', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ kind, labels, series }),
    credentials: 'omit',
  });
  if (!response.ok) throw new ApiFailure(response.status, 'chart', t('error.chart'));
  return URL.createObjectURL(await response.blob());
}
