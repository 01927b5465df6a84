// Small helpers the benchmarks share: medians, writing benchmark/results/<name>.json, versions.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './contenders.mjs';

export const resultsDir = join(root, 'benchmark', 'results');

/** Median; the mean of the two middle values for an even count. Non-finite values sort last. */
export function median(xs) {
  const s = xs.map((x) => (x == null ? Infinity : x)).sort((a, b) => a - b);
  if (!s.length) return null;
  const m = s.length >> 1;
  const v = s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  return Number.isFinite(v) ? v : null;
}

export function writeResult(name, result) {
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${name}.json`);
  writeFileSync(file, JSON.stringify(result, null, 2) + '\n');
  return file;
}

export function packageVersion(name, from = root) {
  try {
    return JSON.parse(readFileSync(join(from, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return null;
  }
}

/** Numbers from the environment, for quick runs: envNumber('N', 5000). */
export function envNumber(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${name}=${v} is not a number`);
  return n;
}

export const pct = (f) => (f == null ? '–' : `${(f * 100).toFixed(1)}%`);
