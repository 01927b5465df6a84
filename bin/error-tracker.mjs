#!/usr/bin/env node
// `npx error-tracker doctor`: the first thing to run after install. Reads the same options as
// the app (the environment: SENTRY_DSN, CAPTURE_ERROR_URL, ERROR_TRACKER_DIR …), checks that
// they parse and that the data directory is writable, sends one test event to each configured
// sink, and says what happened, with the reason from the audit trail when a sink refused.
// Exits 0 when every check passed.
//
// The test event is kept in a temporary data directory of the doctor's own, removed when it
// ends: were it queued in the app's spool, the app's next start would deliver it to the real
// project once the sink could be reached. The app's data directory only gets a probe file,
// removed at once.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const USAGE = `usage: error-tracker doctor           check the configuration and send a test event to each sink
       error-tracker audit            verify the audit trail, or report on it (audit --help)
       error-tracker hide-sourcemaps  after next build: move the browser's source maps out of reach
       error-tracker scrub            show what the scrubbing policy would send (scrub --help)

  Reads the environment the app would (SENTRY_DSN, CAPTURE_ERROR_URL, ERROR_TRACKER_DIR …),
  sends one test event to each configured sink and says what happened. Exits 0 when every
  check passes, 1 otherwise.`;
/** How long the doctor waits for each sink to answer. */
const WAIT_MS = 20_000;

const [command] = process.argv.slice(2);
if (command === undefined || ['--help', '-h', 'help'].includes(command)) {
  console.log(USAGE);
  process.exit(0);
}
if (command === 'audit') {
  process.exit(await (await import('./audit.mjs')).audit(process.argv.slice(3)));
}
if (command === 'hide-sourcemaps') {
  const { main } = await import('./hide-sourcemaps.mjs');
  process.exit(main(process.argv.slice(3)));
}
if (command === 'scrub') process.exit(await (await import('./scrub.mjs')).scrub(process.argv.slice(3)));
if (command !== 'doctor') {
  console.error(`error-tracker: unknown command \`${command}\`\n\n${USAGE}`);
  process.exit(2);
}

const tracker = createRequire(import.meta.url)('../index.js');

let ok = true;
const pass = (what) => console.log(`  ✓ ${what}`);
const fail = (what) => {
  ok = false;
  console.log(`  ✗ ${what}`);
};
const say = (what) => console.log(`    ${what}`);

console.log('error-tracker doctor');
// The app's data directory, as the tracker resolves it: ERROR_TRACKER_DIR unless blank, else
// `.error-tracker` in the working directory.
const appDir = process.env.ERROR_TRACKER_DIR?.trim() ? process.env.ERROR_TRACKER_DIR : resolve('.error-tracker');
const workDir = mkdtempSync(join(tmpdir(), 'error-tracker-doctor-'));
try {
  tracker.init({ dataDir: workDir });
} catch (e) {
  rmSync(workDir, { recursive: true, force: true });
  fail(`configuration: ${e.message}`);
  process.exit(1);
}
// After the tracker's own exit listener (installed by init), which writes its spool down.
process.on('exit', () => rmSync(workDir, { recursive: true, force: true }));
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

const { configErrors } = tracker.stats();
for (const e of configErrors) {
  fail(`configuration: ${e.variable}: ${e.message}; the app ignores it as if unset`);
}
if (configErrors.length === 0) pass('configuration parses');
const config = tracker.configuration();
say(`sentry:      ${config.sentryEndpoint ?? '(not configured: set SENTRY_DSN)'}`);
say(`legacy:      ${config.legacyEndpoint ?? '(not configured: set CAPTURE_ERROR_URL)'}`);
say(`data dir:    ${appDir}`);
say(`release:     ${config.release ?? '(none)'}`);
say(`environment: ${config.environment}`);

try {
  mkdirSync(appDir, { recursive: true });
  const probe = join(appDir, `.doctor-${process.pid}`);
  writeFileSync(probe, 'ok');
  rmSync(probe);
  pass(`data dir is writable`);
} catch (e) {
  fail(`data dir is not writable: ${e.message}`);
}

printReleases(appDir);

const endpoints = { sentry: config.sentryEndpoint, legacy: config.legacyEndpoint };
const sinks = Object.keys(endpoints).filter((sink) => endpoints[sink]);
if (sinks.length === 0) fail('no sink configured: events would only be kept in the outbox file');

const id = tracker.trackError(new Error('error-tracker doctor: test event'), { doctor: true });
say(`test event:  ${id}`);
if (sinks.length > 0) {
  say(`sending the test event to ${sinks.join(' and ')}; waiting up to ${WAIT_MS / 1000} s for an answer …`);
  await watch(sinks);
}
console.log(ok ? 'all checks passed' : 'some checks failed');
process.exit(ok ? 0 : 1);

/**
 * Follows the test event through each sink until every sink has an outcome or the wait is
 * over: delivered, refused, or a failure that waiting cannot mend (nothing listens at the
 * address, no such host), reported at once. Other failed attempts are said as they happen.
 */
async function watch(sinks) {
  let settled = false;
  const deadline = Date.now() + WAIT_MS;
  const open = new Set(sinks);
  const said = new Set();
  while (open.size > 0) {
    const stats = tracker.stats();
    const audit = auditLines(workDir, id);
    for (const sink of [...open]) {
      const s = stats.sinks[sink];
      const lines = audit.filter((a) => a.sink === sink);
      const last = lines.at(-1);
      const retry = lines.find((a) => a.action === 'retry');
      if (s.delivered > 0) {
        pass(`${sink}: test event delivered`);
      } else if (s.failed > 0) {
        fail(`${sink}: refused the test event (${last?.reason ?? 'see stderr'})`);
      } else if (retry && /^(connection refused|host not found)/.test(retry.reason ?? '')) {
        fail(`${sink}: ${unreachable(retry.reason, endpoints[sink])}`);
      } else if (settled || Date.now() >= deadline) {
        fail(`${sink}: not delivered within ${WAIT_MS / 1000} s${retry?.reason ? ` (last try: ${retry.reason})` : ''}`);
      } else {
        if (retry && !said.has(sink)) {
          said.add(sink);
          say(`${sink}: first attempt failed (${retry.reason}); trying again`);
        }
        continue;
      }
      open.delete(sink);
    }
    // Short flushes, not one long one: a flush still waiting when the doctor exits would hold
    // the exit up until it timed out (Node joins its worker threads on exit). Each flush also
    // tells the legacy sink not to linger.
    if (open.size > 0) settled = await tracker.flush(100);
  }
}

/** What a refused connection or an unknown host means for `endpoint`. */
function unreachable(reason, endpoint) {
  const url = new URL(endpoint);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  return reason.startsWith('connection refused')
    ? `connection refused by ${url.hostname}:${port}: nothing listens there (is the ingest running, and is the port right?)`
    : `${reason.replace(/^host not found/, `host ${url.hostname} not found`)}: check the host name`;
}

/**
 * What `stats().releases` says in the app, for every process the app's audit trail remembers:
 * per release, in the order first seen, its errors and the groups first seen in it, so a deploy
 * that brought a new error stands out.
 */
function printReleases(dataDir) {
  const releases = new Map();
  const seen = new Set();
  for (const line of auditLines(dataDir, '"action":"captured"')) {
    const name = line.release ?? '(no release)';
    let release = releases.get(name);
    if (!release) releases.set(name, (release = { errors: 0, newGroups: [] }));
    release.errors += 1;
    if (line.fingerprint && !seen.has(line.fingerprint)) {
      seen.add(line.fingerprint);
      release.newGroups.push(line.fingerprint);
    }
  }
  if (releases.size === 0) return;
  say(`releases (from the audit trail under ${dataDir}):`);
  for (const [name, r] of releases) {
    const groups = r.newGroups.length === 0 ? 'no new groups' : `new groups: ${r.newGroups.join(', ')}`;
    say(`  ${name}: ${r.errors} error${r.errors === 1 ? '' : 's'}, ${groups}`);
  }
}

function auditLines(dataDir, eventId) {
  const dir = join(dataDir, 'audit');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .sort()
    .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n'))
    .filter((l) => l.includes(eventId))
    .flatMap((l) => {
      try {
        return [JSON.parse(l)];
      } catch {
        return []; // a line being written as we read
      }
    });
}
