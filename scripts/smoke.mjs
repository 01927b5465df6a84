// Loads the built binding as an app would (index.js, then binding.js picks the .node beside it)
// and sends one error through it to the outbox. It needs no node_modules, Rust or Python, so it
// is what CI checks on the targets where `npm test` cannot run (Windows and musl: see
// .github/workflows/CI.yml for why).
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The outbox is the sink when none is configured; a sink from the environment would send this.
for (const name of ['SENTRY_DSN', 'CAPTURE_ERROR_URL']) delete process.env[name];
const tracker = createRequire(import.meta.url)('../index.js');
const dataDir = mkdtempSync(join(tmpdir(), 'et-smoke-'));
tracker.init({ dataDir });
const id = tracker.trackError(new Error('smoke test'), { check: 'scripts/smoke.mjs' });
const flushed = await tracker.flush(10_000);
const { delivered } = tracker.stats();
await tracker.close();
rmSync(dataDir, { recursive: true, force: true });

const platform = `${process.platform}-${process.arch}, Node ${process.version}`;
if (!/^[0-9a-f]{32}$/.test(id) || flushed !== true || delivered.outbox !== 1) {
  console.error(`smoke: FAILED on ${platform}: id ${id}, flushed ${flushed}, delivered ${JSON.stringify(delivered)}`);
  process.exit(1);
}
console.log(`smoke: ${platform}: event ${id} delivered to the outbox`);
