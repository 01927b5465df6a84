#!/usr/bin/env node
// Idempotently provide Debian's `chromium` for the browser tests, which drive it through
// playwright-core pointed at the system executable (no browser download, ever). Where it is
// missing and cannot be installed, this throws naming what to install: the tests fail, they
// never skip.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const CANDIDATES = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function chromiumPath() {
  if (process.env.CHROMIUM_PATH && existsSync(process.env.CHROMIUM_PATH)) return process.env.CHROMIUM_PATH;
  return CANDIDATES.find((p) => existsSync(p)) ?? null;
}

const run = (cmd, args) =>
  spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });

/** Returns a one-line description of what was done; throws on failure. */
export async function ensureChromium() {
  const found = chromiumPath();
  if (found) return `chromium already installed at ${found}`;
  const root = typeof process.getuid === 'function' && process.getuid() === 0;
  const sudo = root ? [] : ['sudo', '-n'];
  const apt = (args) => (sudo.length ? run(sudo[0], [...sudo.slice(1), 'apt-get', ...args]) : run('apt-get', args));
  let r = apt(['update', '-qq']);
  if (r.status === 0) r = apt(['install', '-y', '-qq', 'chromium']);
  const now = chromiumPath();
  if (!now) {
    const why = r.error ? r.error.message : (r.stderr || r.stdout || '').trim().split('\n').slice(-3).join(' | ');
    throw new Error(
      `ensure-chromium: the browser tests need Debian's \`chromium\` package. Install it with ` +
        `\`apt-get install chromium\` (as root), or set CHROMIUM_PATH to a Chromium binary. apt said: ${why}`,
    );
  }
  return `installed chromium at ${now}`;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  ensureChromium().then(
    (msg) => console.log(msg),
    (err) => {
      console.error(err.message);
      process.exit(1);
    },
  );
}
