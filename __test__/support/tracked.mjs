// The shared frame of the per-value test files: one strict receiver and one init per file, and
// `capture(...)`, which tracks a value, flushes, and returns what both sinks got for its id.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { fileURLToPath } from 'node:url';
import { assertNormalized, closeNormalizer } from './normalize.mjs';
import { startReceiver } from './receiver.mjs';

export const HEX32 = /^[0-9a-f]{32}$/;

/**
 * Registers before/after hooks for the calling test file and returns
 * `{ rx, ids, calls, capture, locate }` (`rx` is set once `before` has run).
 */
export function trackedFile(tracker, testFileUrl) {
  const sourceLines = readFileSync(fileURLToPath(testFileUrl), 'utf8').split('\n');
  const file = { rx: undefined, ids: [], calls: 0, capture, locate };
  let dataDir;

  before(async () => {
    file.rx = await startReceiver();
    dataDir = mkdtempSync(join(tmpdir(), 'error-tracker-test-'));
    tracker.init({
      dsn: file.rx.dsn,
      legacyEndpoint: file.rx.legacyUrl,
      dataDir,
      // One legacy request per flush; the default budget (5/min) would stall the file.
      legacyMaxRequestsPerMinute: 10_000,
    });
  });

  after(async () => {
    await tracker.close(10_000);
    await file.rx?.close();
    await closeNormalizer();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  /**
   * trackError(...args) must not throw; flush, and return what both sinks received for the
   * returned id: `{ id, event, legacy, values, main }` (`main` = the thrown exception, listed
   * last). Also runs the event through Relay's normaliser.
   */
  async function capture(...args) {
    file.calls += 1;
    let id;
    assert.doesNotThrow(() => {
      id = tracker.trackError(...args);
    }, 'trackError threw');
    assert.match(id, HEX32, 'trackError returns 32 lowercase hex characters');
    assert.notEqual(id, '0'.repeat(32), 'the nil id means capture panicked');
    file.ids.push(id);
    assert.equal(await tracker.flush(10_000), true, 'flush resolves true');
    const { rx } = file;
    const event = rx.events.find((e) => e.event_id === id);
    assert.ok(event, `the Sentry receiver got no event ${id}; problems: ${JSON.stringify(rx.problems)}`);
    const legacy = rx.legacyErrors.find((e) => e.eventId === id);
    assert.ok(legacy, `the legacy receiver got no item ${id}; problems: ${JSON.stringify(rx.problems)}`);
    await assertNormalized([event]);
    const values = event.exception.values;
    return { id, event, legacy, values, main: values.at(-1) };
  }

  /** Line and column of the `new` on the line of the test file marked `/* here:<marker> *\/`. */
  function locate(marker) {
    const tag = `/* here:${marker} */`;
    const index = sourceLines.findIndex((line) => line.includes(tag));
    assert.notEqual(index, -1, `marker ${tag} not found`);
    return { lineno: index + 1, colno: sourceLines[index].indexOf('new ') + 1 };
  }

  return file;
}
