// Makes a fresh clone ready to run: installs npm dependencies, builds the native addon when
// it is missing or older than its sources, and (with --relay) sets up Sentry's normaliser
// for the tests. `npm test` and `npm run demo` run it first, so neither needs a manual step.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });

// `npm ci` installs exactly what package-lock.json pins, and fails if it no longer matches
// package.json, where `npm install` would quietly rewrite it (so drift went unseen here).
if (!existsSync(join(root, 'node_modules', '@napi-rs', 'cli'))) {
  const locked = existsSync(join(root, 'package-lock.json'));
  console.log(`prepare: installing npm dependencies (npm ${locked ? 'ci' : 'install'})`);
  run('npm', [locked ? 'ci' : 'install', '--no-audit', '--no-fund']);
}

function newest(path) {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((f) => newest(join(path, f))));
}
const sources = Math.max(...['src', 'Cargo.toml', 'Cargo.lock', 'build.rs'].map((p) => newest(join(root, p))));
const addons = readdirSync(root).filter((f) => f.endsWith('.node'));
const built = addons.length ? Math.max(...addons.map((f) => statSync(join(root, f)).mtimeMs)) : 0;
if (built < sources) {
  console.log('prepare: building the native addon (release)');
  run('npm', ['run', 'build']);
}

if (process.argv.includes('--relay')) {
  const { ensureRelay } = await import('./ensure-relay.mjs');
  console.log(await ensureRelay());
  const { ensureChromium } = await import('./ensure-chromium.mjs');
  console.log(await ensureChromium());
}
