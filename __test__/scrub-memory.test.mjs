// Taint that remembers across events (issue 18, item 1), from the outside: a child process
// tracks one event with a passport number under its key, then another whose cause message
// holds the same number with no key. The strict receiver must get the second without it; once
// the memory's time has passed the number is no longer scrubbed (it was forgotten); and
// nothing of the memory (the value, or a file of hashes) is under dataDir.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { runNode, tempDir } from './support/child.mjs';
import { assertNormalized, closeNormalizer } from './support/normalize.mjs';
import { startReceiver } from './support/receiver.mjs';

const PASSPORT = '533401287';
const J = JSON.stringify;

/** Every file under `dir`, recursively. */
function filesUnder(dir) {
  return readdirSync(dir, { recursive: true })
    .map((f) => join(dir, String(f)))
    .filter((f) => statSync(f).isFile());
}

test('a value removed by key is scrubbed from later events, and forgotten after its time', async (t) => {
  t.after(closeNormalizer);
  const rx = await startReceiver();
  t.after(() => rx.close());
  const first = tempDir('et-memory-');
  const second = tempDir('et-memory-');
  const r = await runNode(`
    class ScreeningError extends Error {}
    const track = async (tag, error, context) => {
      tracker.trackError(error, context, { tags: { step: tag } });
      if (!(await tracker.flush(10000))) throw new Error('flush failed at ' + tag);
    };
    tracker.init(${J({ dsn: rx.dsn, dataDir: first, contextLines: 0 })});
    await track('a', new ScreeningError('Document check failed'), { passportNumber: '${PASSPORT}', orderId: 'ORD-7' });
    const cause = new Error('Provider rejected ${PASSPORT} for ORD-7');
    await track('b', new ScreeningError('Retry failed', { cause }), { orderId: 'ORD-7' });
    // A new init keeps the memory (it is the process's), and shortens its time to 1 s.
    tracker.init(${J({ dsn: rx.dsn, dataDir: second, contextLines: 0, scrub: { rememberSeconds: 1 } })});
    await new Promise((done) => setTimeout(done, 1500));
    await track('c', new ScreeningError('Retry failed', { cause: new Error('Provider rejected ${PASSPORT} for ORD-7') }), {});
    await tracker.close(10000);
  `);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(rx.problems, []);
  const byStep = (step) => {
    const events = rx.events.filter((e) => e.tags?.step === step);
    assert.equal(events.length, 1, `one event for step ${step}`);
    return events[0];
  };
  const [a, b, c] = ['a', 'b', 'c'].map(byStep);
  assert.equal(a.extra?.passportNumber, '[Filtered]', J(a));
  const bText = J(b);
  assert.ok(!bText.includes(PASSPORT), `the later event still holds the number: ${bText}`);
  const causeMessage = b.exception.values.find((v) => v.value?.startsWith('Provider rejected')).value;
  assert.equal(causeMessage, 'Provider rejected [Filtered] for ORD-7', 'only the number goes');
  const cText = J(c);
  assert.ok(cText.includes(`Provider rejected ${PASSPORT} for ORD-7`), `forgotten after its time: ${cText}`);
  await assertNormalized([a, b, c]);

  // In memory only: nothing under the first process's dataDir holds the number, or a store
  // of hashes.
  for (const file of filesUnder(first)) {
    assert.ok(!/taint|memory|hash/i.test(file.slice(first.length)), `a file of hashes: ${file}`);
    assert.ok(!readFileSync(file).includes(PASSPORT), `${file} holds the number`);
  }
});
