#!/usr/bin/env node
// `npx error-tracker doctor`: the first thing to run after install. Reads the same options as
// the app (the environment: SENTRY_DSN, CAPTURE_ERROR_URL, ERROR_TRACKER_DIR …), checks that
// they parse and that the data directory is writable, sends one test event to each configured
// sink, and says what happened, with the reason from the audit trail when a sink refused.
// Exits 0 when every check passed.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const tracker = createRequire(import.meta.url)('../index.js');
const [command] = process.argv.slice(2);

if (command !== 'doctor') {
  console.log('usage: error-tracker doctor    check the configuration and send a test event to each sink');
  process.exit(command ? 2 : 0);
}

let ok = true;
const pass = (what) => console.log(`  ✓ ${what}`);
const fail = (what) => { ok = false; console.log(`  ✗ ${what}`); };

console.log('error-tracker doctor');
try {
  tracker.init();
  pass('configuration parses');
} catch (e) {
  fail(`configuration: ${e.message}`);
  process.exit(1);
}
const config = tracker.configuration();
console.log(`    sentry:      ${config.sentryEndpoint ?? '(not configured: set SENTRY_DSN)'}`);
console.log(`    legacy:      ${config.legacyEndpoint ?? '(not configured: set CAPTURE_ERROR_URL)'}`);
console.log(`    data dir:    ${config.dataDir}`);
console.log(`    release:     ${config.release ?? '(none)'}`);
console.log(`    environment: ${config.environment}`);

try {
  mkdirSync(config.dataDir, { recursive: true });
  const probe = join(config.dataDir, `.doctor-${process.pid}`);
  writeFileSync(probe, 'ok');
  rmSync(probe);
  pass(`data dir is writable`);
} catch (e) {
  fail(`data dir is not writable: ${e.message}`);
}

const sinks = [
  ...(config.sentryEndpoint ? ['sentry'] : []),
  ...(config.legacyEndpoint ? ['legacy'] : []),
];
if (sinks.length === 0) fail('no sink configured: events would only be kept in the outbox file');

const id = tracker.trackError(new Error('error-tracker doctor: test event'), { doctor: true });
console.log(`    test event:  ${id}`);
const settled = await tracker.flush(20_000);
const stats = tracker.stats();
const audit = auditLines(config.dataDir, id);
for (const sink of sinks) {
  const s = stats.sinks[sink];
  const last = audit.filter((a) => a.sink === sink).at(-1);
  if (s.delivered > 0) pass(`${sink}: test event delivered`);
  else if (s.failed > 0) fail(`${sink}: refused the test event (${last?.reason ?? 'see stderr'})`);
  else fail(`${sink}: not delivered within 20 s${last?.reason ? ` (last try: ${last.reason})` : ''}; it stays queued in the spool`);
}
if (!settled && ok) fail('flush timed out');
await tracker.close(1000);
console.log(ok ? 'all checks passed' : 'some checks failed');
process.exit(ok ? 0 : 1);

function auditLines(dataDir, eventId) {
  const dir = join(dataDir, 'audit');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).sort().flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n'))
    .filter((l) => l.includes(eventId)).map((l) => JSON.parse(l));
}
