// Scopes, in JavaScript, on the calling thread: who the current request is for, its tags and
// contexts, and what happened before an error (breadcrumbs), the way Sentry's SDK keeps them.
//
// - One process-wide scope, for everything outside a request.
// - One scope per incoming HTTP request (plain `http`/`https` servers, `next start`), forked
//   when the server emits 'request' and carried by AsyncLocalStorage through everything the
//   request awaits, as Sentry's http integration forks an isolation scope.
// - `withScope(fn)` forks the current scope for a block.
//
// Setting anything only stores a reference; nothing is copied, formatted or serialised until an
// error is captured. Then `scopeFor` merges process-wide, request, `withScope` and the call's
// own scope, in that order, into the plain `scope` argument the capture path already reads
// (README, "Scopes and breadcrumbs"). Scrubbing happens on the worker, like for the rest.
'use strict';

const { AsyncLocalStorage } = require('node:async_hooks');
const diagnostics = require('node:diagnostics_channel');
const { format } = require('node:util');

/** Breadcrumbs kept per scope, the newest; and in one event (Sentry's default, 100). */
const MAX_BREADCRUMBS = 100;
/** UTF-16 units kept of a console message (the fast path takes strings up to 5,461). */
const MAX_MESSAGE = 2048;

class Scope {
  constructor() {
    this._user = undefined;
    this._tags = undefined;
    this._contexts = undefined;
    this._level = undefined;
    this._fingerprint = undefined;
    // A ring: `_crumbs` fills to MAX_BREADCRUMBS, then `_next` is the oldest, overwritten next.
    this._crumbs = undefined;
    this._next = 0;
  }

  /** The affected user, `null` to clear. Sentry's shape: `{ id, email, username, ip_address }`. */
  setUser(user) {
    this._user = user === null || typeof user !== 'object' ? undefined : user;
    return this;
  }

  setTag(key, value) {
    (this._tags ??= {})[key] = value;
    return this;
  }

  setTags(tags) {
    if (tags !== null && typeof tags === 'object') Object.assign((this._tags ??= {}), tags);
    return this;
  }

  /** A named context (`setContext('order', { id })`), `null` to remove it. */
  setContext(name, context) {
    if (context === null || context === undefined) {
      if (this._contexts) delete this._contexts[name];
    } else {
      (this._contexts ??= {})[name] = context;
    }
    return this;
  }

  setLevel(level) {
    this._level = level;
    return this;
  }

  setFingerprint(fingerprint) {
    this._fingerprint = fingerprint;
    return this;
  }

  addBreadcrumb(crumb) {
    if (crumb === null || typeof crumb !== 'object') return this;
    record(this, { timestamp: Date.now() / 1000, ...crumb });
    return this;
  }

  /** A copy for `withScope`: changes to either are not seen by the other. */
  clone() {
    const copy = new Scope();
    copy._user = this._user;
    copy._tags = this._tags && { ...this._tags };
    copy._contexts = this._contexts && { ...this._contexts };
    copy._level = this._level;
    copy._fingerprint = this._fingerprint;
    copy._crumbs = this._crumbs && ordered(this);
    return copy;
  }
}

function record(scope, crumb) {
  const crumbs = (scope._crumbs ??= []);
  if (crumbs.length < MAX_BREADCRUMBS) {
    crumbs.push(crumb);
  } else {
    crumbs[scope._next] = crumb;
    scope._next = (scope._next + 1) % MAX_BREADCRUMBS;
  }
}

/** The scope's breadcrumbs, oldest first. */
function ordered(scope) {
  const crumbs = scope._crumbs;
  if (!crumbs) return [];
  return scope._next === 0 ? crumbs.slice() : crumbs.slice(scope._next).concat(crumbs.slice(0, scope._next));
}

const processScope = new Scope();
/**
 * `{ request: Scope | null, current: Scope | null, req: IncomingMessage | null, session }`:
 * `session` is the request's release-health state, shared with the `withScope`s inside it.
 */
const storage = new AsyncLocalStorage();

/** Where top-level `setUser`, `setTag` … go: the request's scope, or the process-wide one. */
function isolationScope() {
  const store = storage.getStore();
  return (store && store.request) || processScope;
}

/** The scope `withScope` made around this code, else the one `isolationScope` gives. */
function currentScope() {
  const store = storage.getStore();
  return (store && (store.current || store.request)) || processScope;
}

/**
 * Runs `fn(scope)` with a scope of its own, forked from the current one: what it sets there is
 * seen by errors captured inside, and gone after.
 */
function withScope(fn) {
  const store = storage.getStore();
  const scope = store && store.current ? store.current.clone() : new Scope();
  return storage.run(
    {
      request: store ? store.request : null,
      current: scope,
      req: store ? store.req : null,
      session: store ? store.session : null,
    },
    fn,
    scope,
  );
}

// A breadcrumb whose message is written only when an error is captured.
class ConsoleCrumb {
  constructor(level, args) {
    this.timestamp = Date.now() / 1000;
    this.level = level;
    this.args = args;
  }

  materialise() {
    let message;
    try {
      message = format(...this.args);
    } catch {
      message = '[unformattable]';
    }
    if (message.length > MAX_MESSAGE) message = `${message.slice(0, MAX_MESSAGE - 1)}…`;
    return { timestamp: this.timestamp, category: 'console', level: this.level, message };
  }
}

// An outgoing request: recorded when it starts, its status and duration filled in when the
// response arrives.
class HttpCrumb {
  constructor(category, method, url) {
    this.timestamp = Date.now() / 1000;
    this.started = performance.now();
    this.category = category;
    this.method = method;
    this.url = url;
    this.status = undefined;
    this.duration = undefined;
    this.failed = false;
  }

  done(status) {
    this.status = status;
    this.duration = Math.round((performance.now() - this.started) * 1000) / 1000;
  }

  materialise() {
    const data = { method: this.method, url: this.url };
    if (this.status !== undefined) data.status_code = this.status;
    if (this.duration !== undefined) data.duration_ms = this.duration;
    const crumb = { timestamp: this.timestamp, type: 'http', category: this.category, data };
    if (this.failed || this.status >= 500) crumb.level = 'error';
    else if (this.status >= 400) crumb.level = 'warning';
    return crumb;
  }
}

/**
 * The `scope` argument for a capture: process-wide, request, `withScope`, then `call` (the
 * call's own scope), merged. `call` itself when there is nothing to merge, so the common path
 * allocates nothing.
 */
function scopeFor(call, store = storage.getStore()) {
  try {
    return merged(call, store);
  } catch {
    // A getter or a Proxy in the call's scope threw: the capture never throws, so the scope
    // goes as given, and the native copy reads what it can of it.
    return call;
  }
}

function merged(call, store) {
  const layers = [processScope];
  if (store) {
    if (store.request) layers.push(store.request);
    if (store.current) layers.push(store.current);
  }
  const req = store && store.req;
  if (layers.length === 1 && !hasData(processScope)) return plainHeaders(call);
  const out = {};
  let crumbs;
  if (req) out.request = { method: req.method, url: req.url, headers: req.headers };
  for (const layer of layers) {
    if (layer._user !== undefined) out.user = layer._user;
    if (layer._tags) out.tags = { ...out.tags, ...layer._tags };
    if (layer._contexts) out.contexts = { ...out.contexts, ...layer._contexts };
    if (layer._level !== undefined) out.level = layer._level;
    if (layer._fingerprint !== undefined) out.fingerprint = layer._fingerprint;
    if (layer._crumbs) crumbs = crumbs ? crumbs.concat(ordered(layer)) : ordered(layer);
  }
  if (call !== null && typeof call === 'object') {
    for (const key of Object.keys(call)) {
      const value = call[key];
      if (value === undefined) continue;
      if ((key === 'tags' || key === 'contexts') && value !== null && typeof value === 'object') {
        out[key] = { ...out[key], ...value };
      } else if (key === 'breadcrumbs' && Array.isArray(value)) {
        crumbs = crumbs ? crumbs.concat(value) : value.slice();
      } else {
        out[key] = value;
      }
    }
  }
  if (crumbs) {
    // Layers interleave in time; a stable sort keeps each one's order where stamps tie.
    if (layers.length > 1) crumbs.sort(byTime);
    if (crumbs.length > MAX_BREADCRUMBS) crumbs = crumbs.slice(crumbs.length - MAX_BREADCRUMBS);
    out.breadcrumbs = crumbs.map(materialise);
  }
  return plainHeaders(out);
}

function hasData(scope) {
  return (
    scope._user !== undefined ||
    scope._tags !== undefined ||
    scope._contexts !== undefined ||
    scope._level !== undefined ||
    scope._fingerprint !== undefined ||
    scope._crumbs !== undefined
  );
}

function byTime(a, b) {
  return (Number(a && a.timestamp) || 0) - (Number(b && b.timestamp) || 0);
}

function materialise(crumb) {
  return crumb instanceof ConsoleCrumb || crumb instanceof HttpCrumb ? crumb.materialise() : crumb;
}

/**
 * `scope.request.headers` as a plain object when it is a Web `Headers` (what `Request` and
 * `headers()` give in Next.js), which neither JSON nor the native copy can read.
 */
function plainHeaders(scope) {
  const request = scope !== null && typeof scope === 'object' ? scope.request : undefined;
  const headers = request !== null && typeof request === 'object' ? request.headers : undefined;
  if (headers === null || typeof headers !== 'object' || !isWebHeaders(headers)) return scope;
  const plain = {};
  for (const [key, value] of headers) plain[key] = value;
  return { ...scope, request: { ...request, headers: plain } };
}

function isWebHeaders(headers) {
  return (
    (typeof Headers === 'function' && headers instanceof Headers) ||
    (typeof headers.get === 'function' &&
      typeof headers.entries === 'function' &&
      typeof headers[Symbol.iterator] === 'function')
  );
}

// --- Where scopes come from and where breadcrumbs are recorded --------------------------------

/** Which automatic breadcrumbs are on (`init({ breadcrumbs })`). */
const enabled = { console: true, fetch: true, http: true };

/** Forks a scope for every request an `http` or `https` server handles. */
function instrumentServers() {
  for (const name of ['node:http', 'node:https']) {
    const proto = require(name).Server.prototype;
    const emit = proto.emit;
    if (emit.__errorTrackerScope) continue;
    const scoped = function emitWithScope(event, req, res) {
      if (event !== 'request' || storage.getStore()?.req === req) return emit.apply(this, arguments);
      const args = arguments;
      const store = { request: new Scope(), current: null, req, session: startSession(res) };
      return storage.run(store, () => emit.apply(this, args));
    };
    Object.defineProperty(scoped, '__errorTrackerScope', { value: true });
    proto.emit = scoped;
  }
}

function instrumentConsole() {
  for (const level of ['warn', 'error']) {
    const original = console[level];
    if (typeof original !== 'function' || original.__errorTrackerScope) continue;
    const crumbLevel = level === 'warn' ? 'warning' : 'error';
    const wrapped = function (...args) {
      if (enabled.console) record(currentScope(), new ConsoleCrumb(crumbLevel, args));
      return original.apply(this, args);
    };
    Object.defineProperty(wrapped, '__errorTrackerScope', { value: true });
    console[level] = wrapped;
  }
}

// Outgoing requests, from the channels undici (fetch) and Node's http client publish. The
// start is published in the caller's async context, so the crumb lands in the right scope; the
// response may come in another, so it finds its crumb by the request object.
const pending = new WeakMap();

function instrumentOutgoing() {
  diagnostics.subscribe('undici:request:create', ({ request }) => {
    if (!enabled.fetch || !request) return;
    const crumb = new HttpCrumb('fetch', request.method, `${request.origin}${request.path}`);
    pending.set(request, crumb);
    record(currentScope(), crumb);
  });
  diagnostics.subscribe('undici:request:headers', ({ request, response }) => {
    const crumb = request && pending.get(request);
    if (crumb) crumb.done(response && response.statusCode);
  });
  diagnostics.subscribe('undici:request:error', ({ request }) => {
    const crumb = request && pending.get(request);
    if (crumb) crumb.failed = true;
  });
  diagnostics.subscribe('http.client.request.start', ({ request }) => {
    if (!enabled.http || !request) return;
    const crumb = new HttpCrumb('http', request.method, clientUrl(request));
    pending.set(request, crumb);
    record(currentScope(), crumb);
    // No 'error' listener here: one would keep an unhandled request error from being thrown.
    // A request that fails keeps its crumb without a status.
  });
  diagnostics.subscribe('http.client.response.finish', ({ request, response }) => {
    const crumb = request && pending.get(request);
    if (crumb) crumb.done(response && response.statusCode);
  });
}

function clientUrl(request) {
  try {
    return `${request.protocol}//${request.host}${request.path}`;
  } catch {
    return undefined;
  }
}

// --- Release health (src/sessions.rs) -----------------------------------------------------------
//
// Each request counts once, in the minute it started, as `exited`, `errored` (an error was
// captured while handling it) or `crashed` (Next.js reported an error nobody handled, through
// onRequestError). Counted here, without a native call per request; handed over at most once a
// minute (and by `close()`), so Sentry gets one small request a minute at most.

/** Most often counts are handed over. */
const SESSION_INTERVAL_MS = 60_000;
/** minute (ms since the epoch) → { started, exited, errored, crashed } */
let sessionCounts = new Map();
let lastHandOver = Date.now();
let handOverTimer = null;
let recordSessions = null;

/** `{ started, status, counted }` for a request that has begun. */
function startSession(res) {
  const session = { started: Date.now(), status: 'exited', counted: null };
  if (res && typeof res.once === 'function') res.once('close', () => endSession(session));
  return session;
}

function endSession(session) {
  const minute = session.started - (session.started % 60_000);
  let counts = sessionCounts.get(minute);
  if (!counts) {
    counts = { started: minute, exited: 0, errored: 0, crashed: 0 };
    sessionCounts.set(minute, counts);
  }
  counts[session.status] += 1;
  session.counted = counts;
  if (handOverTimer === null && recordSessions !== null) {
    handOverTimer = setInterval(() => handOverSessions(false), SESSION_INTERVAL_MS);
    handOverTimer.unref();
  }
}

/**
 * An error was captured: the current request (if any) errored, or crashed when nobody
 * handled it. An error captured after the response ended still moves the count, unless it was
 * handed over already.
 */
function markError(crashed, store) {
  const session = store && store.session;
  if (!session) return;
  const status = crashed ? 'crashed' : 'errored';
  if (session.status === status || session.status === 'crashed') return;
  const counts = session.counted;
  if (counts && sessionCounts.get(counts.started) === counts) {
    counts[session.status] -= 1;
    counts[status] += 1;
  }
  session.status = status;
}

/**
 * For an error being captured: marks the request's session errored (`crashed` when Next.js
 * reported it) and returns the merged scope, reading the request's store once for both.
 */
function captureScope(call, crashed) {
  const store = storage.getStore();
  markError(crashed, store);
  return scopeFor(call, store);
}

/** Hands the counts to the native side: when a minute has passed since last time, or `now`. */
function handOverSessions(now) {
  if (sessionCounts.size === 0 || recordSessions === null) return;
  if (!now && Date.now() - lastHandOver < SESSION_INTERVAL_MS) return;
  const counts = [...sessionCounts.values()];
  sessionCounts = new Map();
  lastHandOver = Date.now();
  try {
    recordSessions(counts);
  } catch {
    // Never the app's problem.
  }
}

// --- Hosts that freeze after the response (Vercel functions, Lambda) ------------------------------
//
// Such a host stops the instance once the response is sent, so the background thread may not
// get to send what the request captured. Where the platform offers a `waitUntil` (Vercel's
// request context, which Next's own `after()` uses too), a capture inside a request registers
// a flush with it; captures in the same tick share one flush. Where none exists, the errors
// wait in the spool for the next start of the instance (README, "Hosts that freeze").

const REQUEST_CONTEXTS = [Symbol.for('@vercel/request-context'), Symbol.for('@next/request-context')];
/** Most a registered flush waits, in milliseconds. */
const FREEZE_FLUSH_MS = 2000;
let flushNative = null;
let scheduled = null;
/** The request contexts `scheduled` is registered with. */
let registered = new Set();

/** The platform's context for the current request, if it has a `waitUntil`. */
function platformContext() {
  for (const symbol of REQUEST_CONTEXTS) {
    const context = globalThis[symbol];
    if (!context || typeof context.get !== 'function') continue;
    let request;
    try {
      request = context.get();
    } catch {
      continue;
    }
    if (request && typeof request.waitUntil === 'function') return request;
  }
  return null;
}

/** After a capture: have the platform wait for its delivery, where it can. */
function deliverBeforeFreeze() {
  if (flushNative === null) return;
  const context = platformContext();
  if (context === null) return;
  if (scheduled === null) {
    registered = new Set();
    scheduled = new Promise((resolve) => {
      setImmediate(() => {
        scheduled = null;
        Promise.resolve(flushNative(FREEZE_FLUSH_MS)).then(resolve, () => resolve(false));
      });
    });
  }
  if (registered.has(context)) return;
  registered.add(context);
  try {
    context.waitUntil(scheduled);
  } catch {
    // Never the app's problem.
  }
}

/** The native functions this file hands work to: `recordSessions` and `flush`. */
function connect(binding) {
  recordSessions = typeof binding.recordSessions === 'function' ? binding.recordSessions : null;
  flushNative = typeof binding.flush === 'function' ? binding.flush : null;
}

/**
 * `init`'s options as the native side reads them: a RegExp in `ignoreErrors`, which neither
 * JSON nor the native copy can read, as `{ regex, flags }`.
 */
function nativeOptions(options) {
  const ignore = options !== null && typeof options === 'object' ? options.ignoreErrors : undefined;
  if (!Array.isArray(ignore) || !ignore.some((p) => p instanceof RegExp)) return options;
  return {
    ...options,
    ignoreErrors: ignore.map((p) => (p instanceof RegExp ? { regex: p.source, flags: p.flags } : p)),
  };
}

/** Applies `init({ breadcrumbs })` (already checked natively). */
function configure(options) {
  const b = options && options.breadcrumbs;
  enabled.console = !(b && b.console === false);
  enabled.fetch = !(b && b.fetch === false);
  enabled.http = !(b && b.http === false);
}

module.exports = {
  Scope,
  configure,
  connect,
  deliverBeforeFreeze,
  handOverSessions,
  captureScope,
  currentScope,
  instrumentConsole,
  instrumentOutgoing,
  instrumentServers,
  isolationScope,
  nativeOptions,
  processScope,
  scopeFor,
  storage,
  withScope,
};
