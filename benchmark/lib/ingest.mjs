// A loopback stand-in for Sentry's envelope endpoint, shared by the benchmarks. It counts the
// distinct event ids it accepted and when the first and last arrived. Optional behaviours:
// answer 429 (Retry-After, X-Sentry-Rate-Limits) for the first `limitMs` after `state.start`
// (the storm), or wait `delayMs` before answering each request (the slow ingest). Lenient on
// purpose: the strict, protocol-checking receiver is the tests' (__test__/support/receiver.mjs).
import { createServer } from 'node:http';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';

function decode(req, raw) {
  const enc = String(req.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (enc === 'gzip') return gunzipSync(raw);
  if (enc === 'deflate') return inflateSync(raw);
  if (enc === 'br') return brotliDecompressSync(raw);
  return raw;
}

/** Event ids of the `event` items in one envelope (item lengths are honoured, in bytes). */
export function eventIds(buf) {
  const ids = [];
  let pos = 0;
  const line = () => {
    const nl = buf.indexOf(10, pos);
    const end = nl === -1 ? buf.length : nl;
    const s = buf.subarray(pos, end).toString('utf8');
    pos = nl === -1 ? buf.length : nl + 1;
    return s;
  };
  let header;
  try { header = JSON.parse(line()); } catch { return ids; }
  while (pos < buf.length) {
    let item;
    try { item = JSON.parse(line()); } catch { continue; }
    let payload;
    if (typeof item?.length === 'number') {
      payload = buf.subarray(pos, pos + item.length).toString('utf8');
      pos += item.length;
      if (buf[pos] === 10) pos += 1;
    } else {
      payload = line();
    }
    if (item?.type !== 'event') continue;
    let id = header?.event_id;
    if (!id) { try { id = JSON.parse(payload).event_id; } catch {} }
    if (id) ids.push(String(id).replaceAll('-', '').toLowerCase());
  }
  return ids;
}

/**
 * Starts the ingest on 127.0.0.1. `state.start` is when the rate limit's clock starts (set it,
 * or it starts at the first request); `reset()` forgets what was counted so far.
 */
export async function startIngest({ limitMs = 0, delayMs = 0 } = {}) {
  const state = {
    start: 0, firstAt: 0, lastAt: 0, accepted: new Set(), requests: 0, limited: 0, open: 0,
  };
  const reset = () => {
    Object.assign(state, { start: 0, firstAt: 0, lastAt: 0, accepted: new Set(), requests: 0, limited: 0 });
  };
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
        await new Promise((r) => setTimeout(r, delayMs));
        state.open -= 1;
      }
      let ids = [];
      try { ids = eventIds(decode(req, Buffer.concat(chunks))); } catch {}
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
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    state,
    reset,
    port,
    dsn: `http://benchkey@127.0.0.1:${port}/1`,
    close: () => new Promise((r) => { server.closeAllConnections?.(); server.close(r); }),
  };
}
