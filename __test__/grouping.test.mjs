// Readable traces and stable grouping, end to end: errors thrown by real esbuild bundles
// (src/sourcemaps/fixtures/dist, built from fixtures/src/*.ts) reach both sinks pointing at the
// original TypeScript with original function names and context lines; a minified and a plain
// build of the same throw site share a fingerprint, two throw sites do not; stats().groups
// counts events and distinct users; a bundle's debug id is sent in debug_meta; and the release
// falls back to the CI commit, then to package.json.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { runNode, tempDir } from './support/child.mjs';
import { trackedFile } from './support/tracked.mjs';

const require = createRequire(import.meta.url);
const tracker = require('../index.js');
const FIXTURES = resolve(import.meta.dirname, '..', 'src', 'sourcemaps', 'fixtures');
const APP_TS = join(FIXTURES, 'src', 'app.ts');
const bundle = (name) => require(join(FIXTURES, 'dist', `${name}.js`));

const file = trackedFile(tracker, import.meta.url);
const { capture } = file;

/** Runs `fn`, which must throw, and returns what it threw. */
function thrown(fn) {
  try {
    fn();
  } catch (e) {
    return e;
  }
  assert.fail('expected a throw');
}

const priceTooHigh = '{"id":"o-1","quantity":1,"price":5000}';
/** One call path into either build, so only the bundle differs between the two errors. */
const priceErrorFrom = (name) => thrown(() => bundle(name).handleRequest(priceTooHigh));
const duplicate = (service) => {
  service.placeOrder({ id: 'o-2', quantity: 1, price: 1 });
  service.placeOrder({ id: 'o-2', quantity: 1, price: 1 });
};

test('a minified bundle resolves to the original file, line, function and context', async () => {
  const { main, legacy } = await capture(thrown(() => bundle('min').handleRequest(priceTooHigh)));
  assert.equal(main.type, 'RangeError');
  const top = main.stacktrace.frames.at(-1);
  assert.equal(top.abs_path, APP_TS);
  assert.equal(top.lineno, 15, 'the line of `throw new RangeError("marker-arrow")` in app.ts');
  assert.equal(top.function, 'validateOrder', 'the original name, not the minified one');
  assert.equal(top.in_app, true);
  assert.match(top.context_line, /throw new RangeError\("marker-arrow"\)/);
  assert.equal(top.pre_context.length, 5);
  assert.match(top.pre_context.at(-1), /if \(order\.price > 1000\)/);
  const caller = main.stacktrace.frames.at(-2);
  assert.equal(caller.abs_path, APP_TS);
  assert.equal(caller.function, 'OrderService.placeOrder');
  // The legacy sink carries the resolved frames and grouping too.
  assert.match(legacy.fingerprint, /^[0-9a-f]{16}$/);
  assert.deepEqual(legacy.frames[0], {
    function: 'validateOrder',
    file: 'src/sourcemaps/fixtures/src/app.ts',
    line: 15,
    column: top.colno,
    inApp: true,
  });
});

test('the same throw site groups across a minified and a plain build; two sites do not', async () => {
  // One loop, so even the calling line is the same: grouping follows every in-app frame.
  const got = [];
  for (const build of ['min', 'plain']) got.push(await capture(priceErrorFrom(build)));
  const [fromMin, fromPlain] = got;
  assert.equal(fromPlain.main.stacktrace.frames.at(-1).function, 'validateOrder');
  assert.equal(fromMin.legacy.fingerprint, fromPlain.legacy.fingerprint);

  const { OrderService } = bundle('min');
  const otherSite = await capture(thrown(() => duplicate(new OrderService())));
  assert.equal(otherSite.main.value, 'marker-method');
  assert.notEqual(otherSite.legacy.fingerprint, fromMin.legacy.fingerprint);
});

test('stats().groups counts events and the distinct users they hit', async () => {
  const { OrderService } = bundle('plain');
  let fingerprint;
  for (const user of ['analyst-1', 'analyst-2', 'analyst-1']) {
    ({
      legacy: { fingerprint },
    } = await capture(
      thrown(() => duplicate(new OrderService())),
      null,
      { user: { id: user } },
    ));
  }
  const group = tracker.stats().groups.find((g) => g.fingerprint === fingerprint);
  assert.ok(group, `no group ${fingerprint} in ${JSON.stringify(tracker.stats().groups)}`);
  assert.ok(group.count >= 3, `count ${group.count}`);
  assert.ok(group.users >= 2, `users ${group.users}`);
  assert.equal(group.title, 'Error: marker-method');
  assert.ok(group.firstSeen <= group.lastSeen && group.lastSeen <= Date.now());
});

test('a bundle with a Sentry debug id is sent with debug_meta', async () => {
  const { event } = await capture(thrown(() => bundle('debugid').handleRequest(priceTooHigh)));
  const images = event.debug_meta?.images ?? [];
  assert.deepEqual(
    images.filter((i) => i.code_file.endsWith('debugid.js')),
    [
      {
        type: 'sourcemap',
        code_file: join(FIXTURES, 'dist', 'debugid.js'),
        debug_id: 'c0ffee00-1234-4abc-8def-0123456789ab',
      },
    ],
  );
});

test('release: the option, else SENTRY_RELEASE, else a CI commit, else package.json', async () => {
  const cwd = tempDir();
  writeFileSync(join(cwd, 'package.json'), JSON.stringify({ name: '@calmony/screening', version: '1.4.2' }));
  const release = async (env) => {
    const { stdout, code, stderr } = await runNode(
      `
      tracker.init({ dataDir: process.env.DIR, contextLines: 0 });
      const id = tracker.trackError(new Error('x'));
      await tracker.flush(5000);
      const { readFileSync } = await import('node:fs');
      const line = readFileSync(process.env.DIR + '/outbox.ndjson', 'utf8').trim().split('\\n').at(-1);
      console.log(JSON.stringify(JSON.parse(line).release ?? null));
    `,
      { env: { DIR: tempDir(), ...env }, cwd },
    );
    assert.equal(code, 0, stderr);
    return JSON.parse(stdout.trim());
  };
  assert.equal(await release({}), '@calmony-screening@1.4.2');
  assert.equal(await release({ GITHUB_SHA: 'a1b2c3d' }), 'a1b2c3d');
  assert.equal(await release({ GITHUB_SHA: 'a1b2c3d', VERCEL_GIT_COMMIT_SHA: 'f00d' }), 'f00d');
  assert.equal(await release({ GITHUB_SHA: 'a1b2c3d', SENTRY_RELEASE: 'screening@2' }), 'screening@2');
});
