#!/usr/bin/env node
// Idempotently provide a Python venv with sentry-relay, whose StoreNormalizer
// is the reference validator our tests run produced events through.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const RELAY_PKG = 'sentry-relay==0.10.1';
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const venvDir = join(repoRoot, '.venv-relay');
export const venvPython = join(venvDir, 'bin', 'python');

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) throw new Error(`ensure-relay: could not run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(`ensure-relay: \`${cmd} ${args.join(' ')}\` exited ${r.status}\n${r.stderr || r.stdout}`);
  }
}

const relayImports = () => existsSync(venvPython) && spawnSync(venvPython, ['-c', 'import sentry_relay']).status === 0;

/** Returns a one-line description of what was done; throws on failure. */
export async function ensureRelay() {
  if (relayImports()) return `sentry-relay already installed in ${venvDir}`;
  if (!existsSync(venvPython)) run('python3', ['-m', 'venv', venvDir]);
  run(join(venvDir, 'bin', 'pip'), ['install', '--disable-pip-version-check', '-q', RELAY_PKG]);
  if (!relayImports()) throw new Error(`ensure-relay: installed ${RELAY_PKG} but \`import sentry_relay\` still fails`);
  return `installed ${RELAY_PKG} into ${venvDir}`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  ensureRelay().then(
    (msg) => console.log(msg),
    (err) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
