// Runs events through Relay's own StoreNormalizer (via normalize.py) so tests
// check what we send against the real ingestion rules, not our reading of them.
import { AssertionError } from 'node:assert';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ensureRelay, venvPython } from '../../scripts/ensure-relay.mjs';

const script = join(dirname(fileURLToPath(import.meta.url)), 'normalize.py');

let child = null; // one python process per test process, started on first use
let starting = null;
const pending = []; // FIFO of { resolve, reject }: normalize.py answers in order

function setRef(ref, proc = child) {
  // Only keep the event loop alive while answers are outstanding, so an idle
  // normalizer never stops a test file from exiting.
  const m = ref ? 'ref' : 'unref';
  proc?.[m]();
  for (const s of [proc?.stdin, proc?.stdout, proc?.stderr]) s?.[m]?.();
}

async function start() {
  await ensureRelay();
  const proc = spawn(venvPython, [script], { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  proc.stderr.setEncoding('utf8').on('data', (d) => {
    stderr += d;
  });
  createInterface({ input: proc.stdout }).on('line', (line) => {
    const p = pending.shift();
    if (!p) return;
    try {
      p.resolve(JSON.parse(line));
    } catch (e) {
      p.reject(e);
    }
    if (!pending.length) setRef(false);
  });
  proc.on('exit', (code, signal) => {
    if (child === proc) child = null;
    const err = new Error(`normalize.py exited (${signal ?? code})${stderr ? `:\n${stderr}` : ''}`);
    for (const p of pending.splice(0)) p.reject(err);
  });
  proc.on('error', (err) => {
    for (const p of pending.splice(0)) p.reject(err);
  });
  await once(proc, 'spawn');
  child = proc;
  setRef(false);
}

function ask(event) {
  return new Promise((resolve, reject) => {
    pending.push({ resolve, reject });
    setRef(true);
    child.stdin.write(JSON.stringify(event) + '\n');
  });
}

/** normalize(events) → [{ ok: true, normalized, errors } | { ok: false, exception }], in input order. */
export async function normalize(events) {
  if (!child) {
    starting ??= start().finally(() => {
      starting = null;
    });
    await starting;
  }
  return Promise.all(events.map(ask));
}

/** Throws an AssertionError naming every event Relay rejected or flagged; returns the results otherwise. */
export async function assertNormalized(events) {
  const results = await normalize(events);
  const failures = [];
  results.forEach((r, i) => {
    const id = events[i]?.event_id ?? `#${i}`;
    if (!r.ok) failures.push(`${id}: normalizer raised ${r.exception}`);
    else
      for (const e of r.errors) {
        failures.push(
          `${id}: ${e.type} at ${e.name ?? '(root)'}${e.reason ? `: ${e.reason}` : ''}` +
            ('value' in e ? ` (value ${JSON.stringify(e.value)})` : ''),
        );
      }
  });
  if (failures.length) {
    throw new AssertionError({ message: `Relay flagged ${failures.length} problem(s):\n  ${failures.join('\n  ')}` });
  }
  return results;
}

/**
 * Throws unless Relay's own release parser takes each `sessions` item's release (the receiver
 * checks the rest of the item's shape as it parses the envelope).
 */
export async function assertSessionsValid(items) {
  const results = await normalize(items.map((item) => ({ __sessions__: item })));
  const failures = results.flatMap((r, i) => (r.ok ? [] : [`sessions item #${i}: ${r.exception}`]));
  if (failures.length) throw new AssertionError({ message: `Relay refused:\n  ${failures.join('\n  ')}` });
}

/** Stops the normalizer process (it is also killed when this process exits). */
export async function closeNormalizer() {
  const proc = child;
  child = null;
  if (!proc) return;
  setRef(true, proc); // keep the loop alive until it has really exited
  proc.stdin.end(); // EOF ends normalize.py's read loop cleanly
  if (proc.exitCode === null && proc.signalCode === null) await once(proc, 'exit');
}

process.on('exit', () => child?.kill());
