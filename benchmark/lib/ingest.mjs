// A loopback stand-in for Sentry's envelope endpoint, shared by the benchmarks. It counts the
// distinct event ids it accepted and when the first and last arrived. Optional behaviours:
// answer 429 (Retry-After, X-Sentry-Rate-Limits) for the first `limitMs` after the rate limit's
// clock starts (the storm), or wait `delayMs` before answering each request (the slow ingest).
// The HTTP server runs in a process of its own (ingest-server.mjs) at idle priority (nice 19
// and SCHED_IDLE), so it does not take a core from the contender being measured when both want
// one (a remote Sentry would not compete at all); this module starts it and asks it for its
// counts over IPC. Lenient on purpose: the strict, protocol-checking receiver is the tests'
// (__test__/support/receiver.mjs).
import { fork, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { join } from 'node:path';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';

const NICE = 19;

/** The body of a request, uncompressed as its Content-Encoding says. */
export function decode(req, raw) {
  const enc = String(req.headers['content-encoding'] ?? '')
    .trim()
    .toLowerCase();
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
  try {
    header = JSON.parse(line());
  } catch {
    return ids;
  }
  while (pos < buf.length) {
    let item;
    try {
      item = JSON.parse(line());
    } catch {
      continue;
    }
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
    if (!id) {
      try {
        id = JSON.parse(payload).event_id;
      } catch {}
    }
    if (id) ids.push(String(id).replaceAll('-', '').toLowerCase());
  }
  return ids;
}

/**
 * Lowers the ingest's priority. On Linux a nice value belongs to a thread, not the process, so
 * each thread it already has is lowered (those it starts later inherit the main thread's).
 * Returns the nice value, or null if it could not be set.
 */
function lowerPriority(pid) {
  let tids = [pid];
  try {
    tids = readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {}
  try {
    setPriority(pid, NICE);
  } catch {
    return null;
  }
  for (const tid of tids) {
    try {
      if (tid !== pid) setPriority(tid, NICE);
    } catch {}
    // SCHED_IDLE as well, as the tracker's own threads have it: a nice-19 thread keeps its core
    // until its time slice ends when a normal one wakes, an idle one gives it up at once.
    spawnSync('chrt', ['--idle', '--pid', '0', String(tid)], { stdio: 'ignore' });
  }
  return NICE;
}

/**
 * Starts the ingest on 127.0.0.1, in a child process. Resolves with
 *   { dsn, port, nice,                 nice: the child's nice value, null if it could not be lowered
 *     reset(),                         forgets what was counted so far (and restarts the clock)
 *     setStart(ms = Date.now()),       starts the rate limit's clock at `ms` (else the first
 *                                      request starts it), unless it started sooner
 *     state(),                         { start, firstAt, lastAt, accepted (distinct events),
 *                                        requests, limited, open, maxOpen (peak of `open`) }
 *     close() }                        stops the child
 * all but close() resolving with the state after them. The child is killed if this process exits.
 */
export async function startIngest({ limitMs = 0, delayMs = 0 } = {}) {
  // No execArgv: the parent's flags (--inspect, --cpu-prof …) are not the ingest's.
  const child = fork(join(import.meta.dirname, 'ingest-server.mjs'), [JSON.stringify({ limitMs, delayMs })], {
    execArgv: [],
  });
  const kill = () => child.kill();
  process.on('exit', kill);
  const exited = new Promise((r) => child.once('exit', r));
  const pending = new Map();
  let nextId = 0;
  let gone = null;
  child.on('message', (msg) => {
    const p = pending.get(msg?.id);
    if (!p) return;
    pending.delete(msg.id);
    if (msg.error) p.reject(new Error(`ingest: ${msg.error}`));
    else p.resolve(msg.result);
  });
  exited.then((code) => {
    gone = new Error(`ingest process exited (${code ?? 'signal'})`);
    for (const p of pending.values()) p.reject(gone);
    pending.clear();
  });
  const ask = (op, args) =>
    new Promise((resolve, reject) => {
      if (gone) {
        reject(gone);
        return;
      }
      const id = ++nextId;
      pending.set(id, { resolve, reject });
      child.send({ id, op, ...args }, (err) => {
        if (err) {
          pending.delete(id);
          reject(err);
        }
      });
    });

  const port = await new Promise((resolve, reject) => {
    const onMessage = (msg) => {
      if (typeof msg?.port !== 'number') return;
      child.off('message', onMessage);
      resolve(msg.port);
    };
    child.on('message', onMessage);
    child.on('error', reject); // failing to start or to be killed; a no-op once listening
    exited.then((code) => reject(new Error(`ingest process exited (${code}) before listening`)));
  });
  // Lowered once it listens, so the threads Node starts up with are all there to lower.
  const nice = lowerPriority(child.pid);
  return {
    dsn: `http://benchkey@127.0.0.1:${port}/1`,
    port,
    nice,
    reset: () => ask('reset'),
    setStart: (ms = Date.now()) => ask('setStart', { ms }),
    state: () => ask('state'),
    close: async () => {
      process.off('exit', kill);
      if (!gone) child.kill();
      await exited;
    },
  };
}
