// Runs a generated program in a fresh Node process, in a temporary folder of its own that is
// removed afterwards. The program reports with JSON lines on stdout (`report(obj)`, defined by
// CHILD_HELPERS); other lines are markers the caller may react to through `onLine`, which gets
// the child too (e.g. to answer on its stdin: `await go()` in the child waits for a line).
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const CHILD_HELPERS = `
const report = (obj) => process.stdout.write(JSON.stringify(obj) + '\\n');
const mark = (word) => process.stdout.write(word + '\\n');
const go = () => new Promise((resolve) => {
  process.stdin.setEncoding('utf8');
  process.stdin.once('data', () => { process.stdin.pause(); resolve(); });
});
`;

/**
 * source({ dir, dataDir }) returns the program's text. Resolves with every JSON line it reported
 * (the last is usually the result); rejects if it exits non-zero.
 */
export async function runChild(source, { onLine, label = 'bench', args = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), `et-${label}-`));
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  const file = join(dir, 'main.mjs');
  writeFileSync(file, CHILD_HELPERS + source({ dir, dataDir }));
  const child = spawn(process.execPath, [...args, file], { stdio: ['pipe', 'pipe', 'pipe'], cwd: dir });
  const reports = [];
  let stderr = '';
  let pending = '';
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-20_000);
  });
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    pending += d;
    let nl;
    while ((nl = pending.indexOf('\n')) !== -1) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      if (line.startsWith('{')) {
        try {
          reports.push(JSON.parse(line));
          continue;
        } catch {}
      }
      onLine?.(line, child);
    }
  });
  const code = await new Promise((r) => child.on('exit', (c, signal) => r(c ?? signal)));
  rmSync(dir, { recursive: true, force: true });
  if (code !== 0) throw new Error(`${label} child exited ${code}:\n${stderr}`);
  if (stderr.trim()) process.stderr.write(stderr);
  return reports;
}
