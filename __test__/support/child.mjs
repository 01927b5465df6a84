// Runs a small ES module in a fresh Node process, for what a test process cannot check about
// itself: exiting, zero-config start-up from the environment, stderr warnings.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const addonPath = resolve(import.meta.dirname, '..', '..', 'index.js');

const made = [];
// Each test file runs in its own process: its temp dirs go when it exits. A spool from the
// memory tests alone is over a gigabyte, and runs left thousands behind in /tmp.
process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temp dir, for dataDir and scripts; removed when the test process exits. */
export const tempDir = (prefix = 'et-') => {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
};

/**
 * Runs `source` (an ES module; `tracker` is already imported from the addon) with `env` added to
 * a clean environment. Resolves with { code, signal, stdout, stderr, timedOut }; a child that
 * has not exited after `timeoutMs` is killed and reported as timedOut.
 */
export function runNode(source, { env = {}, timeoutMs = 30000, cwd } = {}) {
  const dir = tempDir('et-child-');
  const file = join(dir, 'main.mjs');
  writeFileSync(
    file,
    `import { createRequire } from 'node:module';\n` +
      `const tracker = createRequire(import.meta.url)(${JSON.stringify(addonPath)});\n${source}\n`,
  );
  const clean = { PATH: process.env.PATH, HOME: process.env.HOME };
  return new Promise((done) => {
    const child = spawn(process.execPath, [file], { env: { ...clean, ...env }, cwd: cwd ?? dir });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      done({ code, signal, stdout, stderr, timedOut, dir });
    });
  });
}
