// The loopback ingest's HTTP server, run as a process of its own by startIngest() (ingest.mjs):
// a remote Sentry's CPU would not compete with the process being measured, so this one runs
// apart from the benchmark, at a lower scheduling priority (the parent lowers it). It keeps the
// counts itself and answers the parent's questions over the IPC channel:
//   { id, op: 'reset' }                forget what was counted so far
//   { id, op: 'setStart', ms }         start the rate limit's clock at `ms` unless it started sooner
//   { id, op: 'state' }                the counts (see snapshot())
// each answered with { id, result }. On listening it sends { port }. Options come as one JSON
// argument: { limitMs, delayMs } (see ingest.mjs). It exits when the parent goes away.
import { createServer } from 'node:http';
import { decode, eventIds } from './ingest.mjs';

const { limitMs = 0, delayMs = 0 } = JSON.parse(process.argv[2] ?? '{}');

const state = {
  start: 0,
  firstAt: 0,
  lastAt: 0,
  accepted: new Set(),
  requests: 0,
  limited: 0,
  open: 0,
  maxOpen: 0,
};

// `open` is live (requests waiting out delayMs right now), so a reset keeps it; the peak
// starts again from it.
function reset() {
  Object.assign(state, {
    start: 0,
    firstAt: 0,
    lastAt: 0,
    accepted: new Set(),
    requests: 0,
    limited: 0,
    maxOpen: state.open,
  });
}

// Counts only: the ids stay here (no benchmark needs them, and a storm's would be a large message).
const snapshot = () => ({ ...state, accepted: state.accepted.size });

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', async () => {
    state.requests += 1;
    if (!state.start) state.start = Date.now();
    if (limitMs && Date.now() - state.start < limitMs) {
      state.limited += 1;
      res.writeHead(429, { 'retry-after': '1', 'x-sentry-rate-limits': '1:error:project' }).end();
      return;
    }
    if (delayMs) {
      state.open += 1;
      state.maxOpen = Math.max(state.maxOpen, state.open);
      await new Promise((r) => setTimeout(r, delayMs));
      state.open -= 1;
    }
    let ids = [];
    try {
      ids = eventIds(decode(req, Buffer.concat(chunks)));
    } catch {}
    if (ids.length) {
      const now = Date.now();
      if (!state.firstAt) state.firstAt = now;
      state.lastAt = now;
      for (const id of ids) state.accepted.add(id);
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  });
});
server.keepAliveTimeout = 60_000;

const OPS = {
  reset,
  // The parent takes `ms` when the burst starts; a request that got here first (and so started
  // the clock) may still have come after it, so the earlier of the two wins.
  setStart: ({ ms = Date.now() }) => {
    state.start = state.start ? Math.min(state.start, ms) : ms;
  },
  state: () => {}, // every op is answered with the state after it
};

process.on('message', (msg) => {
  const op = OPS[msg?.op];
  if (!op) {
    process.send({ id: msg?.id, error: `unknown op ${msg?.op}` });
    return;
  }
  op(msg);
  process.send({ id: msg.id, result: snapshot() });
});
// The benchmark ended (or died): nothing is left to serve.
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => process.send({ port: server.address().port }));
