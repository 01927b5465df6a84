// A strict loopback stand-in for Sentry's envelope endpoint and the legacy
// `/capture-error` JSON endpoint. Every protocol violation is recorded in
// `problems` (and answered 400/401/404) so tests can assert it stays empty:
// a lenient fake would let malformed envelopes pass that real Relay drops.
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { gunzipSync, inflateSync } from 'node:zlib';

const HEX32 = /^[0-9a-f]{32}$/;
const UUID = /^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;
// name/version, split at the last slash so scoped npm names ("@a/b/1.0.0") work.
const CLIENT = /^\S+\/\d[^\s/]*$/;

const mediaType = (v) => (v ?? '').split(';')[0].trim().toLowerCase();
const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const stripSlash = (s) => String(s).replace(/\/+$/, '');

/** Violation collected while handling one request; carries the HTTP status to answer. */
class Violation extends Error {
  constructor(message, status = 400) {
    super(message);
    this.status = status;
  }
}

function decodeBody(req, raw) {
  const enc = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  try {
    if (enc === 'identity') return raw;
    if (enc === 'gzip') return gunzipSync(raw);
    if (enc === 'deflate') return inflateSync(raw); // HTTP "deflate" is zlib-wrapped
  } catch (e) {
    throw new Violation(`body is not valid ${enc}: ${e.message}`);
  }
  throw new Violation(`unsupported Content-Encoding ${JSON.stringify(enc)}`);
}

/** Returns problems with the Sentry auth (X-Sentry-Auth header, or query string as browsers send it). */
function authProblems(req, url, publicKey) {
  const header = req.headers['x-sentry-auth'];
  const fields = {};
  const problems = [];
  if (header !== undefined) {
    const m = /^Sentry\s+(.*)$/s.exec(header);
    if (!m) return [`X-Sentry-Auth must start with "Sentry ": ${JSON.stringify(header)}`];
    for (const pair of m[1].split(',')) {
      const kv = /^\s*(\w+)=([^\s,]*)\s*$/.exec(pair);
      if (!kv) {
        problems.push(`X-Sentry-Auth has a malformed pair ${JSON.stringify(pair)}`);
        continue;
      }
      if (kv[1] in fields) problems.push(`X-Sentry-Auth repeats ${kv[1]}`);
      fields[kv[1]] = kv[2];
    }
    if (fields.sentry_client === undefined) problems.push('X-Sentry-Auth lacks sentry_client');
  } else if (url.searchParams.has('sentry_key')) {
    for (const [k, v] of url.searchParams) fields[k] = v;
  } else {
    return ['missing X-Sentry-Auth header (and no sentry_key in the query string)'];
  }
  if (fields.sentry_version !== '7')
    problems.push(`sentry_version must be 7, got ${JSON.stringify(fields.sentry_version)}`);
  if (fields.sentry_key !== publicKey)
    problems.push(`sentry_key ${JSON.stringify(fields.sentry_key)} != ${JSON.stringify(publicKey)}`);
  if (fields.sentry_client !== undefined && !CLIENT.test(fields.sentry_client)) {
    problems.push(`sentry_client must be name/version, got ${JSON.stringify(fields.sentry_client)}`);
  }
  return problems;
}

/**
 * Parses an envelope Buffer per develop.sentry.dev/sdk/data-model/envelopes/.
 * Lengths are in bytes, hence Buffers throughout. Throws a Violation on the
 * first structural error (later bytes cannot be trusted after that);
 * semantic problems are collected and returned together.
 */
export function parseEnvelope(buf, { dsn } = {}) {
  let pos = 0;
  const readLine = (what) => {
    const nl = buf.indexOf(10, pos);
    const end = nl === -1 ? buf.length : nl;
    const line = buf.subarray(pos, end);
    if (line.at(-1) === 13) throw new Violation(`${what} ends in \\r (envelopes use bare \\n)`);
    pos = nl === -1 ? buf.length : nl + 1;
    return line;
  };
  const parseJsonObject = (bytes, what) => {
    const text = bytes.toString('utf8');
    let v;
    try {
      v = JSON.parse(text);
    } catch (e) {
      throw new Violation(`${what} is not JSON (${e.message}): ${text.slice(0, 200)}`);
    }
    if (!isObject(v)) throw new Violation(`${what} is not a JSON object: ${text.slice(0, 200)}`);
    return v;
  };

  const headers = parseJsonObject(readLine('envelope header'), 'envelope header');
  const items = [];
  while (pos < buf.length) {
    const n = items.length;
    if (buf[pos] === 10) throw new Violation(`empty line at byte ${pos} before item ${n}`);
    const header = parseJsonObject(readLine(`item ${n} header`), `item ${n} header`);
    if (typeof header.type !== 'string')
      throw new Violation(`item ${n} header has no string "type": ${JSON.stringify(header)}`);
    let payload;
    if (header.length !== undefined) {
      const len = header.length;
      if (!Number.isInteger(len) || len < 0)
        throw new Violation(`item ${n} length is not a non-negative integer: ${JSON.stringify(len)}`);
      if (pos + len > buf.length)
        throw new Violation(
          `item ${n} (${header.type}) length ${len} overruns the body (${buf.length - pos} bytes left)`,
        );
      payload = buf.subarray(pos, pos + len);
      // A JSON item ending in \n almost always means the length counted the
      // terminator; only binary attachments may legitimately end that way.
      if (header.type !== 'attachment' && payload.at(-1) === 10) {
        throw new Violation(
          `item ${n} (${header.type}) payload of length ${len} ends in \\n (length counts the terminator?)`,
        );
      }
      pos += len;
      if (pos < buf.length) {
        if (buf[pos] !== 10) {
          throw new Violation(
            `item ${n} (${header.type}) payload of length ${len} is not followed by \\n (byte length wrong?)`,
          );
        }
        pos += 1;
      }
    } else {
      payload = readLine(`item ${n} payload`);
    }
    const item = { header, payload };
    try {
      item.json = JSON.parse(payload.toString('utf8'));
    } catch {
      /* binary/attachment: fine */
    }
    items.push(item);
  }

  const problems = [];
  if (headers.dsn !== undefined && stripSlash(headers.dsn) !== stripSlash(dsn)) {
    problems.push(`envelope header dsn ${JSON.stringify(headers.dsn)} != ${JSON.stringify(dsn)}`);
  }
  if (headers.sent_at !== undefined && !(RFC3339.test(headers.sent_at) && !Number.isNaN(Date.parse(headers.sent_at)))) {
    problems.push(`envelope header sent_at is not RFC 3339: ${JSON.stringify(headers.sent_at)}`);
  }
  if (headers.event_id !== undefined && !UUID.test(String(headers.event_id))) {
    problems.push(`envelope header event_id is not a UUID: ${JSON.stringify(headers.event_id)}`);
  }
  for (const { json } of items.filter((i) => i.header.type === 'sessions')) problems.push(...sessionProblems(json));
  for (const { json } of items.filter((i) => i.header.type === 'session'))
    problems.push(...sessionUpdateProblems(json));
  for (const { json } of items.filter((i) => i.header.type === 'client_report'))
    problems.push(...clientReportProblems(json));
  const eventItems = items.filter((i) => i.header.type === 'event');
  if (eventItems.length > 1) problems.push(`${eventItems.length} event items in one envelope (max 1)`);
  for (const { json: event } of eventItems) {
    if (!isObject(event)) {
      problems.push('event item payload is not a JSON object');
      continue;
    }
    if (!HEX32.test(event.event_id ?? ''))
      problems.push(`event.event_id must be 32 lowercase hex, got ${JSON.stringify(event.event_id)}`);
    if (headers.event_id === undefined) problems.push('envelope header lacks event_id although it carries an event');
    // The spec allows the dashed UUID form in envelope headers, so compare the hex digits.
    else if (String(headers.event_id).replace(/-/g, '').toLowerCase() !== event.event_id) {
      problems.push(
        `envelope header event_id ${JSON.stringify(headers.event_id)} != event.event_id ${JSON.stringify(event.event_id)}`,
      );
    }
  }
  return { headers, items, problems };
}

// A `sessions` item as Relay reads one (relay-event-schema's SessionAggregates): aggregates of
// { started (RFC 3339), did?, exited?, errored?, abnormal?, crashed? (counts) } and attrs
// { release (required), environment?, ip_address?, user_agent? }, nothing else. Relay drops an
// aggregate started more than 5 days ago or in the future; the release itself is checked by
// Relay's own parser (normalize.mjs, assertSessionsValid).
const AGGREGATE_KEYS = new Set(['started', 'did', 'exited', 'errored', 'abnormal', 'crashed']);
const SESSION_ATTRS = new Set(['release', 'environment', 'ip_address', 'user_agent']);
function sessionProblems(item) {
  const problems = [];
  if (!isObject(item)) return ['sessions item payload is not a JSON object'];
  for (const key of Object.keys(item)) {
    if (key !== 'aggregates' && key !== 'attrs')
      problems.push(`sessions item has unknown field ${JSON.stringify(key)}`);
  }
  if (!isObject(item.attrs) || typeof item.attrs.release !== 'string' || item.attrs.release === '') {
    problems.push('sessions item attrs.release must be a non-empty string');
  } else {
    for (const key of Object.keys(item.attrs)) {
      if (!SESSION_ATTRS.has(key)) problems.push(`sessions item attrs has unknown field ${JSON.stringify(key)}`);
    }
    if (item.attrs.environment !== undefined && typeof item.attrs.environment !== 'string')
      problems.push('sessions item attrs.environment must be a string');
  }
  if (!Array.isArray(item.aggregates) || item.aggregates.length === 0) {
    problems.push('sessions item aggregates must be a non-empty array');
    return problems;
  }
  for (const [i, a] of item.aggregates.entries()) {
    if (!isObject(a)) {
      problems.push(`sessions aggregates[${i}] is not an object`);
      continue;
    }
    for (const key of Object.keys(a)) {
      if (!AGGREGATE_KEYS.has(key)) problems.push(`sessions aggregates[${i}] has unknown field ${JSON.stringify(key)}`);
    }
    const started = Date.parse(a.started);
    if (!(RFC3339.test(a.started ?? '') && !Number.isNaN(started))) {
      problems.push(`sessions aggregates[${i}].started is not RFC 3339: ${JSON.stringify(a.started)}`);
    } else if (started > Date.now() + 60_000 || started < Date.now() - 5 * 86_400_000) {
      problems.push(`sessions aggregates[${i}].started is outside what Relay keeps: ${a.started}`);
    }
    for (const key of ['exited', 'errored', 'abnormal', 'crashed']) {
      if (a[key] !== undefined && !(Number.isInteger(a[key]) && a[key] >= 0 && a[key] <= 2 ** 32 - 1))
        problems.push(`sessions aggregates[${i}].${key} is not a u32: ${JSON.stringify(a[key])}`);
    }
  }
  return problems;
}

// A `session` item (one session's update) as Relay reads one (relay-event-schema's
// SessionUpdate): sid (required), did?, seq?, init?, timestamp?, started?, duration?, status?,
// errors?, abnormal_mechanism?, attrs { release (required), environment?, ip_address?,
// user_agent? }, nothing else.
const UPDATE_KEYS = new Set([
  'sid',
  'did',
  'seq',
  'init',
  'timestamp',
  'started',
  'duration',
  'status',
  'errors',
  'abnormal_mechanism',
  'attrs',
]);
const STATUSES = new Set(['ok', 'exited', 'crashed', 'abnormal', 'errored']);
function sessionUpdateProblems(item) {
  const problems = [];
  if (!isObject(item)) return ['session item payload is not a JSON object'];
  for (const key of Object.keys(item)) {
    if (!UPDATE_KEYS.has(key)) problems.push(`session item has unknown field ${JSON.stringify(key)}`);
  }
  if (typeof item.sid !== 'string' || item.sid === '') problems.push('session item sid must be a non-empty string');
  if (item.status !== undefined && !STATUSES.has(item.status))
    problems.push(`session item status is not one Relay knows: ${JSON.stringify(item.status)}`);
  for (const key of ['seq', 'errors']) {
    if (item[key] !== undefined && !(Number.isInteger(item[key]) && item[key] >= 0))
      problems.push(`session item ${key} is not a non-negative integer: ${JSON.stringify(item[key])}`);
  }
  if (item.init !== undefined && typeof item.init !== 'boolean') problems.push('session item init must be a boolean');
  for (const key of ['started', 'timestamp']) {
    const v = item[key];
    if (v !== undefined && !(typeof v === 'number' || (RFC3339.test(v) && !Number.isNaN(Date.parse(v)))))
      problems.push(`session item ${key} is not RFC 3339 or seconds: ${JSON.stringify(v)}`);
  }
  if (!isObject(item.attrs) || typeof item.attrs.release !== 'string' || item.attrs.release === '') {
    problems.push('session item attrs.release must be a non-empty string');
  } else {
    for (const key of Object.keys(item.attrs)) {
      if (!SESSION_ATTRS.has(key)) problems.push(`session item attrs has unknown field ${JSON.stringify(key)}`);
    }
  }
  return problems;
}

// A `client_report` item as Relay reads one (relay-server's ClientReport): timestamp?,
// discarded_events (and the older rate_limited_events, filtered_events,
// filtered_sampling_events) of { reason, category, quantity }, nothing else.
const REPORT_LISTS = new Set([
  'discarded_events',
  'rate_limited_events',
  'filtered_events',
  'filtered_sampling_events',
]);
function clientReportProblems(item) {
  const problems = [];
  if (!isObject(item)) return ['client_report item payload is not a JSON object'];
  for (const [key, list] of Object.entries(item)) {
    if (key === 'timestamp') {
      if (!(typeof list === 'number' || (RFC3339.test(list) && !Number.isNaN(Date.parse(list)))))
        problems.push(`client_report timestamp is not RFC 3339 or seconds: ${JSON.stringify(list)}`);
      continue;
    }
    if (!REPORT_LISTS.has(key)) {
      problems.push(`client_report has unknown field ${JSON.stringify(key)}`);
      continue;
    }
    if (!Array.isArray(list)) {
      problems.push(`client_report ${key} is not an array`);
      continue;
    }
    for (const [i, entry] of list.entries()) {
      if (!isObject(entry) || Object.keys(entry).some((k) => !['reason', 'category', 'quantity'].includes(k))) {
        problems.push(`client_report ${key}[${i}] is not { reason, category, quantity }: ${JSON.stringify(entry)}`);
        continue;
      }
      if (typeof entry.reason !== 'string' || typeof entry.category !== 'string')
        problems.push(`client_report ${key}[${i}] reason and category must be strings`);
      if (!(Number.isInteger(entry.quantity) && entry.quantity >= 0))
        problems.push(`client_report ${key}[${i}].quantity is not a non-negative integer`);
    }
  }
  return problems;
}

function parseLegacy(req, body, legacyToken) {
  if (legacyToken !== undefined && req.headers.authorization !== `Bearer ${legacyToken}`) {
    throw new Violation(
      `legacy Authorization must be "Bearer <token>", got ${JSON.stringify(req.headers.authorization)}`,
      401,
    );
  }
  if (mediaType(req.headers['content-type']) !== 'application/json') {
    throw new Violation(
      `legacy Content-Type must be application/json, got ${JSON.stringify(req.headers['content-type'])}`,
    );
  }
  let parsed;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new Violation(`legacy body is not JSON: ${e.message}`);
  }
  if (!isObject(parsed) || !Array.isArray(parsed.errors) || parsed.errors.length === 0) {
    throw new Violation('legacy body must be {"errors": [...]} with a non-empty array');
  }
  const bad = parsed.errors.findIndex((e) => !isObject(e));
  if (bad !== -1) throw new Violation(`legacy errors[${bad}] is not an object`);
  return parsed;
}

/**
 * startReceiver({ publicKey, projectId, legacyToken, respond, port, allowAborted }) → receiver:
 * port, dsn, legacyUrl, envelopes, events, legacyRequests, legacyErrors, problems, requests, aborted, waitFor, close).
 * respond(kind, req, record) may return { status, headers?, body?, delayMs? } to override the default
 * answer for a well-formed request (without `status`, only the delay applies). Records carry the
 * `status` answered, so tests can tell accepted deliveries from injected failures. Envelope and
 * legacy records also carry `raw`: the decoded (decompressed) body as a UTF-8 string, exactly as
 * sent, so tests can search what left the process byte for byte.
 * `port` (default 0: any free port) lets a test bring an ingest up on a port that was down,
 * e.g. one a closed receiver used, to show what waited for it is delivered.
 * `allowAborted` (default false): a request whose client went away before its body arrived
 * (a process killed mid-request) is counted in `aborted` instead of being a problem.
 * `tag` (optional): called when a connection is accepted; every record of a request on that
 * connection carries what it returned as `tag`. A test that kills one client and starts the
 * next can tell their requests apart, however late the first one's are handled.
 */
export async function startReceiver(opts = {}) {
  const {
    publicKey = 'testpublickey',
    projectId = '42',
    legacyToken = undefined,
    respond = undefined,
    port = 0,
    allowAborted = false,
    tag = undefined,
  } = opts;
  const envelopePath = `/api/${projectId}/envelope/`;
  const r = {
    port: 0,
    dsn: '',
    legacyUrl: '',
    envelopes: [],
    events: [],
    sessions: [],
    sessionUpdates: [],
    clientReports: [],
    legacyRequests: [],
    legacyErrors: [],
    problems: [],
    requests: 0,
    aborted: 0,
    waitFor,
    close,
  };

  async function handle(req, res) {
    r.requests += 1;
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks);
    const url = new URL(req.url, 'http://127.0.0.1');
    const where = `${req.method} ${req.url}`;
    const send = async ({ status, headers = {}, body = '', delayMs = 0 }) => {
      if (delayMs) await sleep(delayMs);
      if (res.destroyed) return;
      const text = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(text);
    };
    const fail = (messages, status = 400) => {
      for (const m of messages) r.problems.push(`${where}: ${m}`);
      return send({ status, body: { detail: messages } });
    };

    let kind;
    if (req.method === 'POST' && url.pathname === envelopePath) kind = 'sentry';
    else if (req.method === 'POST' && url.pathname === '/capture-error') kind = 'legacy';
    else return fail([`unexpected request (expected POST ${envelopePath} or POST /capture-error)`], 404);

    let record;
    let answer;
    try {
      if (kind === 'sentry') {
        const pre = authProblems(req, url, publicKey);
        if (mediaType(req.headers['content-type']) !== 'application/x-sentry-envelope') {
          pre.push(
            `Content-Type must be application/x-sentry-envelope, got ${JSON.stringify(req.headers['content-type'])}`,
          );
        }
        if (pre.length) return fail(pre);
        const decoded = decodeBody(req, raw);
        const { headers, items, problems } = parseEnvelope(decoded, { dsn: r.dsn });
        if (problems.length) return fail(problems);
        record = { headers, items, httpHeaders: req.headers, raw: decoded.toString('utf8') };
        answer = { status: 200, body: headers.event_id ? { id: headers.event_id } : {} };
      } else {
        const decoded = decodeBody(req, raw);
        const body = parseLegacy(req, decoded, legacyToken);
        record = { at: Date.now(), headers: req.headers, body, raw: decoded.toString('utf8') };
        answer = { status: 200, body: { ok: true } };
      }
    } catch (e) {
      if (e instanceof Violation) return fail([e.message], e.status);
      throw e;
    }
    const override = respond ? await respond(kind, req, record) : undefined;
    if (override?.status !== undefined) answer = override;
    else if (override?.delayMs) answer = { ...answer, delayMs: override.delayMs };
    // Recorded only now so every record already carries the status it gets.
    record.status = answer.status;
    if (tag) record.tag = tags.get(req.socket);
    if (kind === 'sentry') {
      r.envelopes.push(record);
      for (const i of record.items) if (i.header.type === 'event') r.events.push(i.json);
      for (const i of record.items) if (i.header.type === 'sessions') r.sessions.push(i.json);
      for (const i of record.items) if (i.header.type === 'session') r.sessionUpdates.push(i.json);
      for (const i of record.items) if (i.header.type === 'client_report') r.clientReports.push(i.json);
    } else {
      r.legacyRequests.push(record);
      r.legacyErrors.push(...record.body.errors);
    }
    return send(answer);
  }

  const tags = new WeakMap();
  const server = createServer((req, res) => {
    handle(req, res).catch((e) => {
      if (allowAborted && e?.code === 'ECONNRESET' && req.destroyed) {
        r.aborted += 1;
        return;
      }
      r.problems.push(`${req.method} ${req.url}: receiver error ${e?.stack ?? e}`);
      if (!res.headersSent && !res.destroyed) res.writeHead(500).end();
    });
  });

  async function waitFor(predicate, timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs;
    let lastError;
    for (;;) {
      try {
        if (predicate(r)) return r;
      } catch (e) {
        lastError = e;
      }
      if (Date.now() >= deadline) break;
      await sleep(10);
    }
    throw new Error(
      `waitFor timed out after ${timeoutMs} ms: ${predicate.toString()}\n` +
        (lastError ? `  predicate last threw: ${lastError.message}\n` : '') +
        `  requests=${r.requests} envelopes=${r.envelopes.length} events=${r.events.length} ` +
        `legacyRequests=${r.legacyRequests.length} legacyErrors=${r.legacyErrors.length}\n` +
        `  problems=${JSON.stringify(r.problems, null, 2)}`,
    );
  }

  function close() {
    server.closeAllConnections(); // keep-alive sockets would otherwise hold close() open
    return new Promise((resolve) => server.close(() => resolve()));
  }

  // Loopback only: tests must never expose or reach anything off this machine.
  if (tag) server.on('connection', (socket) => tags.set(socket, tag()));
  await new Promise((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
  r.port = server.address().port;
  r.dsn = `http://${publicKey}@127.0.0.1:${r.port}/${projectId}`;
  r.legacyUrl = `http://127.0.0.1:${r.port}/capture-error`;
  return r;
}

/** A loopback port nothing listens on (a receiver's, just closed): an ingest that is down. */
export async function closedPort() {
  const r = await startReceiver();
  const { port } = r;
  await r.close();
  return port;
}
