// `npm run demo`: starts a local ingest on loopback (the test suite's strict Sentry + legacy
// receiver), runs demo/app.mjs against it as a separate process, and prints what arrived.
// Set SENTRY_DSN to also see the events in your own Sentry project.
import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startReceiver } from '../__test__/support/receiver.mjs';

const ingest = await startReceiver({ legacyToken: 'demo-token' });
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
console.log(`Sentry received ${ingest.events.length} events:`);
for (const event of ingest.events) {
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
process.exitCode = code || (ingest.problems.length ? 1 : 0) || (JSON.parse(result).delivered ? 0 : 1);
