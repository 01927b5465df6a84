// `npx error-tracker scrub` (issue 18, item 6), run as a reviewer would: on an event file, on
// any JSON from stdin, with the environment's salt and the app's own scrub options, and on bad
// input. Checks what it prints as sent, that each removal names its rule, and the exit codes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { tempDir } from './support/child.mjs';

const CLI = resolve(import.meta.dirname, '..', 'bin', 'error-tracker.mjs');
const dir = tempDir('et-scrub-cli-');

/** Runs the CLI with `args`, `stdin` piped in; resolves with { code, stdout, stderr }. */
function cli(args, { stdin, env = {} } = {}) {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      cwd: dir,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('exit', (code) => done({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

const write = (name, value) => {
  const file = join(dir, name);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
};

const EVENT = {
  event_id: '9ec79c33ec9942ab8353589fcb2e04dc',
  level: 'error',
  exception: {
    values: [{ type: 'ScreeningError', value: 'Invalid date of birth for Jane Roe: 31/01/1970 (ORD-2024-000123)' }],
  },
  extra: { subject: { fullName: 'Jane Roe', orderId: 'ORD-2024-000123' }, contact: 'jane.roe@example.org' },
  user: { id: 'u-42', email: 'jane.roe@example.org' },
};

test('on an event file: prints what would be sent and, per path, the rule that removed it', async () => {
  const r = await cli(['scrub', write('event.json', EVENT), '--json']);
  assert.equal(r.code, 0, r.stderr);
  const { sent, _meta: meta } = JSON.parse(r.stdout);
  const text = JSON.stringify(sent);
  for (const leaked of ['Jane', 'Roe', '31/01/1970', 'jane.roe@example.org']) {
    assert.ok(!text.includes(leaked), `${leaked} would be sent: ${text}`);
  }
  assert.equal(sent.exception.values[0].value, 'Invalid date of birth for [Filtered]: [Filtered] (ORD-2024-000123)');
  assert.equal(sent.extra.subject.orderId, 'ORD-2024-000123');
  assert.deepEqual(meta['extra.subject.fullName'], { rem: [["key: person's name", 's']], len: 8 });
  assert.deepEqual(meta['user.email'].rem[0][1], 'x');
  const rules = meta['exception.values.0.value'].rem.map(([rule]) => rule);
  assert.ok(rules.includes('label: date of birth'), rules.join(', '));
  assert.ok(
    meta['extra.contact'].rem.some(([rule]) => rule.startsWith('value: email')),
    J(meta['extra.contact']),
  );
  assert.equal(meta['extra.subject.orderId'], undefined, 'what stays is not listed');
});

const J = JSON.stringify;

test('any JSON on stdin, read for people: the sent JSON, then path ← rule lines', async () => {
  const r = await cli(['scrub'], {
    stdin: J({ rows: [{ passport_no: '533401287', status: 404 }], note: 'passport no. 533401287 expired' }),
  });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!r.stdout.includes('533401287'), r.stdout);
  assert.match(r.stdout, /"status": 404/);
  assert.match(r.stdout, /rows\.0\.passport_no ← key: national or official id \[was 9 characters\]/);
  assert.match(r.stdout, /note ← label: passport or national id number/);
  assert.match(r.stdout, /2 removals \(path ← rule\):/);
});

test("the policy in force: the environment's salt and the app's scrub options (--options)", async () => {
  const options = write('options.json', { scrub: { keys: ['caseRef'], patterns: ['CASE-\\d{6}'] } });
  const doc = write('doc.json', { caseRef: 'K-77', note: 'opened CASE-123456', user: { id: 'u-42' } });
  const salt = 'reviewer-salt';
  const r = await cli(['scrub', doc, '--options', options, '--json'], { env: { ERROR_TRACKER_USER_ID_SALT: salt } });
  assert.equal(r.code, 0, r.stderr);
  const { sent, _meta: meta } = JSON.parse(r.stdout);
  assert.equal(sent.caseRef, '[Filtered]');
  assert.deepEqual(meta.caseRef.rem, [['scrub.keys', 's']]);
  assert.equal(sent.note, 'opened [Filtered]');
  assert.ok(
    meta.note.rem.some(([rule]) => rule === 'scrub.patterns[0]'),
    J(meta.note),
  );
  // Any JSON is read as an event's data, not as an event: its `user` is just a key here.
  assert.equal(sent.user.id, 'u-42');

  const event = write('user-event.json', { message: 'hello', user: { id: 'u-42' } });
  const e = await cli(['scrub', event, '--json'], { env: { ERROR_TRACKER_USER_ID_SALT: salt } });
  assert.equal(e.code, 0, e.stderr);
  assert.equal(JSON.parse(e.stdout).sent.user.id, createHmac('sha256', salt).update('u-42').digest('hex'));
});

test('bad input: a clear error and exit 1; bad usage: exit 2; --help: exit 0', async () => {
  const bad = await cli(['scrub', write('bad.json', '{"name": "Jane Roe",}')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /bad\.json is not valid JSON: .*line 1 column \d+/);
  assert.ok(!bad.stderr.includes('Jane'), 'the error does not echo the input');
  assert.equal(bad.stdout, '');

  const stdinBad = await cli(['scrub', '-'], { stdin: 'not json' });
  assert.equal(stdinBad.code, 1);
  assert.match(stdinBad.stderr, /stdin is not valid JSON/);

  const missing = await cli(['scrub', join(dir, 'nope.json')]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /cannot read .*nope\.json/);

  const badOptions = write('bad-options.json', { scrub: { patterns: ['(unclosed'] } });
  const opts = await cli(['scrub', write('ok.json', { a: 1 }), '--options', badOptions]);
  assert.equal(opts.code, 1);
  assert.match(opts.stderr, /scrub\.patterns\[0\].*not a valid regular expression/);

  const flag = await cli(['scrub', '--nope']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /unknown flag `--nope`[^]*usage: error-tracker scrub/);

  const help = await cli(['scrub', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /usage: error-tracker scrub/);
  const top = await cli(['--help']);
  assert.match(top.stdout, /error-tracker scrub/);
});
