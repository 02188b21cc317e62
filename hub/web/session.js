// Shared by the customer app and the restaurant console (ES module): one signed-in session per page kind, JSON
// calls to the hub's API with the access token (refreshed once when it expired), errors in words, money in the
// currency's own minor units, and the single-use tickets the WebSockets take.

/** What an error code of the hub means, for people (the hub's message, when it has one, is more precise). */
const CODE_WORDS = {
  bad_request: 'The request was not understood.',
  unauthorized: 'Your session ended; sign in again.',
  forbidden: 'This account may not do that.',
  not_found: 'Not found, or not yours.',
  conflict: 'That is no longer possible.',
  invalid: 'Some details are not right.',
  not_served: 'We do not deliver to that address yet.',
  restaurant_closed: 'The restaurant is closed right now.',
  total_too_large: 'The order is too large.',
  rate_limited: 'Too many attempts; wait a moment and try again.',
  unavailable: 'The service is busy or a partner did not answer; try again.',
  internal: 'Something went wrong on our side; try again.',
};

/** A sentence for a failed answer `{status, json}` (or a thrown network error). */
export function errorText(answer) {
  if (!answer || answer.network) return 'The service cannot be reached; check your connection and try again.';
  const error = answer.json && answer.json.error;
  const words = error && CODE_WORDS[error.code];
  if (error && error.message && error.code !== 'internal') {
    const message = error.message.charAt(0).toUpperCase() + error.message.slice(1);
    return words && words !== message ? words + ' (' + message.replace(/\.$/, '') + '.)' : message;
  }
  return words || 'The service answered with an error (' + answer.status + '); try again.';
}

const digitsCache = new Map();

/** How many decimals the currency's minor unit has (2 for INR, 0 for JPY). */
export function minorDigits(currency) {
  if (!digitsCache.has(currency)) {
    let digits = 2;
    try {
      digits = new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits;
    } catch (_) { /* unknown code: two decimals */ }
    digitsCache.set(currency, digits);
  }
  return digitsCache.get(currency);
}

/** Minor units → "₹1,234.50" in the currency's own number of decimals. */
export function money(minor, currency) {
  const digits = minorDigits(currency);
  const amount = Number(minor) / 10 ** digits;
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency }).format(amount);
  } catch (_) {
    return amount.toFixed(digits) + ' ' + currency;
  }
}

/**
 * A typed amount ("120", "120.5", "120.50") → whole minor units of `currency`, without floating point; null when it
 * is not an amount from 0 to 10,000,000 with at most the currency's decimals.
 */
export function minorUnits(text, currency) {
  const digits = minorDigits(currency);
  const match = /^\s*(\d{1,8})(?:[.,](\d+))?\s*$/.exec(text);
  if (!match || (match[2] || '').length > digits) return null;
  const whole = Number(match[1]);
  if (whole > 10000000) return null;
  return whole * 10 ** digits + Number((match[2] || '').padEnd(digits, '0') || '0');
}

/** A random key for one attempt of an idempotent POST. */
export function idempotencyKey() {
  const bytes = new Uint8Array(16);
  crypto.getRandomValues(bytes);
  return Array.from(bytes, function (b) { return b.toString(16).padStart(2, '0'); }).join('');
}

/** The claims of a JWT access token (not verified: only to address the user by role). */
function claims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part + '='.repeat((4 - part.length % 4) % 4)));
  } catch (_) {
    return {};
  }
}

/**
 * A session kept in sessionStorage under `dabba.<kind>.*`, for users of `role`. `onSignedOut(message)` is called
 * when the hub ends it (expired, revoked, disabled).
 */
export function createSession(kind, role, onSignedOut) {
  const ACCESS = 'dabba.' + kind + '.accessToken';
  const REFRESH = 'dabba.' + kind + '.refreshToken';

  function token() { return sessionStorage.getItem(ACCESS); }

  function store(pair) {
    sessionStorage.setItem(ACCESS, pair.accessToken);
    if (pair.refreshToken) sessionStorage.setItem(REFRESH, pair.refreshToken);
  }

  function clear() {
    sessionStorage.removeItem(ACCESS);
    sessionStorage.removeItem(REFRESH);
  }

  async function raw(method, path, body, headers) {
    const all = Object.assign({ Accept: 'application/json' }, headers || {});
    if (body !== undefined) all['Content-Type'] = 'application/json';
    let response;
    try {
      response = await fetch(path, { method, headers: all, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (_) {
      return { status: 0, json: null, network: true };
    }
    let json = null;
    try { json = await response.json(); } catch (_) { /* empty body */ }
    return { status: response.status, json };
  }

  async function refresh() {
    const refreshToken = sessionStorage.getItem(REFRESH);
    if (!refreshToken) return false;
    const answer = await raw('POST', '/v1/auth/refresh', { refreshToken });
    if (answer.status === 200 && answer.json && answer.json.accessToken) {
      store(answer.json);
      return true;
    }
    return false;
  }

  /** `{status, json}` of one call; a 401 refreshes the token once and repeats, then signs out. */
  async function api(method, path, body, options) {
    const headers = Object.assign({}, (options && options.headers) || {});
    if (token()) headers.Authorization = 'Bearer ' + token();
    let answer = await raw(method, path, body, headers);
    if (answer.status === 401 && token()) {
      if (await refresh()) {
        headers.Authorization = 'Bearer ' + token();
        answer = await raw(method, path, body, headers);
      }
      if (answer.status === 401) {
        clear();
        if (onSignedOut) onSignedOut('Your session ended; sign in again.');
      }
    }
    return answer;
  }

  /** Signs in; resolves to null or a sentence saying why not. */
  async function signIn(email, password) {
    const answer = await raw('POST', '/v1/auth/login', { email, password });
    if (answer.status !== 200 || !answer.json || !answer.json.accessToken) {
      if (answer.status === 401) return 'Wrong email or password.';
      if (answer.status === 403) return 'This account is disabled.';
      return errorText(answer);
    }
    const got = claims(answer.json.accessToken).role;
    if (got !== role) {
      return 'This is a ' + (got || 'different') + ' account; this page is for ' + role + ' accounts.';
    }
    store(answer.json);
    return null;
  }

  /** Creates a customer account and signs in; null or a sentence saying why not. */
  async function register(name, email, password) {
    const answer = await raw('POST', '/v1/auth/register', { name, email, password });
    if (answer.status !== 201) return errorText(answer);
    return signIn(email, password);
  }

  async function signOut() {
    const refreshToken = sessionStorage.getItem(REFRESH);
    if (refreshToken) await raw('POST', '/v1/auth/logout', { refreshToken });
    clear();
  }

  /** A WebSocket URL for `path` with a fresh ticket; throws an Error with `fatal` when signed out or refused. */
  async function socketURL(path) {
    if (!token()) { const e = new Error('Signed out'); e.fatal = true; throw e; }
    const answer = await api('POST', '/v1/ws-tickets');
    if (answer.status === 401 || answer.status === 403) {
      const e = new Error(errorText(answer)); e.fatal = true; throw e;
    }
    if (answer.status !== 200 || !answer.json || !answer.json.ticket) throw new Error(errorText(answer));
    return DabbaLive.socketURL(path + (path.includes('?') ? '&' : '?') + 'ticket=' + encodeURIComponent(answer.json.ticket));
  }

  return {
    api, signIn, register, signOut, socketURL,
    signedIn: function () { return token() !== null; },
    userID: function () { const t = token(); return t ? Number(claims(t).sub) : null; },
    /** The agent id an agent account acts for (its token's `agent` claim), or null. */
    agentID: function () { const t = token(); return t ? claims(t).agent || null : null; },
  };
}

/**
 * A console's sign-in form (`#signin` with `#email`, `#password`, `#signin-error`) and sign-out button (`#signout`):
 * signs in with `session` and calls `onSignedIn()`, or shows the error; `beforeSignIn()` runs first, inside the
 * user's gesture (the restaurant console opens its AudioContext there). Signing out calls `onSignedOut()`.
 */
export function wireSignIn(session, onSignedIn, onSignedOut, beforeSignIn) {
  const $ = function (id) { return document.getElementById(id); };
  $('signin').addEventListener('submit', async function (event) {
    event.preventDefault();
    if (beforeSignIn) beforeSignIn();
    await busy(event.target.querySelector('button'), async function () {
      const error = await session.signIn($('email').value.trim(), $('password').value);
      $('signin-error').textContent = error || '';
      if (!error) { $('password').value = ''; onSignedIn(); }
    });
  });
  $('signout').addEventListener('click', async function () {
    await session.signOut();
    onSignedOut();
  });
}

/** Shows `message` in the element (role=alert), or hides it when empty. */
export function say(element, message) {
  element.textContent = message || '';
  element.hidden = !message;
}

/** Runs `work` with `button` disabled (no double submits); returns what it returns. */
export async function busy(button, work) {
  button.disabled = true;
  button.setAttribute('aria-busy', 'true');
  try { return await work(); } finally {
    button.disabled = false;
    button.removeAttribute('aria-busy');
  }
}

/** An element `tag` with `className` and text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}
