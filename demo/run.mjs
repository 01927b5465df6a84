// `npm run demo`: starts a local ingest on loopback (the test suite's strict Sentry + legacy
// receiver), runs demo/app.mjs against it as a separate process, and prints what arrived.
// Set SENTRY_DSN to also see the events in your own Sentry project. At the end it verifies the
// app's audit trail and writes the auditor's report (html, md, json) under demo/out/.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startReceiver } from '../__test__/support/receiver.mjs';

// The first Sentry request is answered 503, as an ingest having a bad moment would: the
// tracker sends it again, and the audit report shows the retry.
let refused = 0;
const ingest = await startReceiver({
  legacyToken: 'demo-token',
  respond: (kind) =>
    kind === 'sentry' && refused++ === 0 ? { status: 503, body: { detail: 'unavailable' } } : undefined,
});
const env = {
  ...process.env,
  SENTRY_DSN: process.env.SENTRY_DSN || ingest.dsn,
  CAPTURE_ERROR_URL: ingest.legacyUrl,
  CAPTURE_ERROR_TOKEN: 'demo-token',
  DEMO_DATA_DIR: mkdtempSync(join(tmpdir(), 'error-tracker-demo-')),
};
console.log(`local ingest: Sentry DSN ${env.SENTRY_DSN}, legacy endpoint ${ingest.legacyUrl}\n`);

const app = spawn(process.execPath, [join(import.meta.dirname, 'app.mjs')], {
  env,
  stdio: ['ignore', 'pipe', 'inherit'],
});
let out = '';
app.stdout.on('data', (d) => {
  out += d;
});
const code = await new Promise((done) => app.on('exit', done));
await ingest.close();

const site = (exception) => {
  const frame = exception.stacktrace?.frames?.at(-1);
  return frame ? `${frame.function ?? '?'} (${frame.filename}:${frame.lineno}:${frame.colno})` : '(no stack)';
};
// The event the ingest answered 503 arrives twice: refused, then retried. Listed once.
const distinct = [...new Map(ingest.events.map((e) => [e.event_id, e])).values()];
console.log(
  `Sentry received ${distinct.length} events (${ingest.events.length} requests: the first was ` +
    `answered 503 on purpose and retried):`,
);
for (const event of distinct) {
  const chain = event.exception.values;
  const main = chain.at(-1);
  console.log(`  ${event.event_id}  [${event.level ?? 'error'}] ${main.type}: ${main.value}`);
  console.log(`      thrown at ${site(main)}`);
  for (const linked of chain.slice(0, -1).reverse()) {
    console.log(`      ${linked.mechanism?.data?.source ?? 'linked'}: ${linked.type}: ${linked.value}`);
  }
  if (event.extra) console.log(`      context: ${JSON.stringify(event.extra)}`);
}
console.log(
  `\nLegacy endpoint received ${ingest.legacyErrors.length} errors in ${ingest.legacyRequests.length} request(s):`,
);
for (const item of ingest.legacyErrors) {
  console.log(`  ${item.eventId}  ${item.name}: ${item.message}  (fingerprint ${item.fingerprint})`);
}
const result = out.trim().split('\n').at(-1);
console.log(`\napp: ${result}`);
if (ingest.problems.length) console.log('protocol problems:', ingest.problems);

// The audit trail as an auditor gets it: verified, then reported on.
const cli = join(import.meta.dirname, '..', 'bin', 'error-tracker.mjs');
const audit = (...args) => spawnSync(process.execPath, [cli, 'audit', ...args], { encoding: 'utf8' });
const verified = audit('verify', env.DEMO_DATA_DIR);
console.log(`\n$ error-tracker audit verify <dataDir>\n${verified.stdout}${verified.stderr}`);
const reports = join(import.meta.dirname, 'out');
mkdirSync(reports, { recursive: true });
for (const format of ['html', 'md', 'json']) {
  const made = audit('report', env.DEMO_DATA_DIR, '--format', format, '--out', join(reports, `audit-report.${format}`));
  if (made.status !== 0) console.log(made.stderr);
}
console.log(readFileSync(join(reports, 'audit-report.md'), 'utf8'));
console.log(`audit report: ${join(reports, 'audit-report.html')} (also .md and .json); open the html in a browser`);
process.exitCode =
  verified.status || code || (ingest.problems.length ? 1 : 0) || (JSON.parse(result).delivered ? 0 : 1);
