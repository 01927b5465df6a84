// Fails when package-lock.json is out of step with package.json: when `npm install` would change
// it (an entry missing, as the other platforms' optional packages once were; a version package.json
// no longer allows; a dependency added or dropped). `npm ci` would refuse such a lockfile on a fresh
// clone, while `npm install`, which rewrites it, hides the drift on the machine that made it.
//
// How: copy package.json and package-lock.json to a temporary folder, let
// `npm install --package-lock-only --ignore-scripts` bring the copy in line (it touches neither
// node_modules nor this checkout), and compare the two. Only what decides the install is compared
// (each entry's path, version and integrity, and the root's dependency lists), not formatting or
// `resolved` URLs, which npm's settings and versions write differently. package.json's `overrides`
// are checked against the lockfile apart, since npm keeps a locked version when one changes.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
if (!existsSync(join(root, 'package-lock.json'))) {
  console.error('check-lockfile: there is no package-lock.json; run `npm install` and commit it');
  process.exit(1);
}

const copy = mkdtempSync(join(tmpdir(), 'et-lock-'));
let synced;
try {
  for (const f of ['package.json', 'package-lock.json']) copyFileSync(join(root, f), join(copy, f));
  execFileSync('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund'], {
    cwd: copy,
    stdio: ['ignore', 'ignore', 'inherit'],
    shell: process.platform === 'win32', // npm is npm.cmd there, which Node runs only through a shell
  });
  synced = JSON.parse(readFileSync(join(copy, 'package-lock.json'), 'utf8'));
} finally {
  rmSync(copy, { recursive: true, force: true });
}
const committed = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));

const ROOT_LISTS = ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies'];
function essence(lock) {
  const entries = new Map();
  for (const [path, entry] of Object.entries(lock.packages ?? {})) {
    entries.set(
      path,
      path === ''
        ? JSON.stringify(ROOT_LISTS.map((k) => entry[k] ?? {}))
        : `${entry.version ?? entry.resolved ?? ''} ${entry.integrity ?? ''}`,
    );
  }
  return entries;
}
const [want, have] = [essence(synced), essence(committed)];
const problems = [];
for (const [path, value] of want) {
  const name = path || '(root dependency lists)';
  if (!have.has(path)) problems.push(`missing: ${name} ${value.split(' ')[0]}`);
  else if (have.get(path) !== value) problems.push(`differs: ${name}: locked ${have.get(path)}, needed ${value}`);
}
for (const path of have.keys()) if (!want.has(path)) problems.push(`not needed: ${path}`);

// npm records no overrides in the lockfile, and keeps a locked version when an override changes,
// so compare those too: an override that pins an exact version must be the version locked (for a
// nested override, the version its parent package resolves).
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const lockedPaths = Object.keys(committed.packages ?? {});
const nameOf = (path) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);
const specName = (key) => key.replace(/(.)@.*$/, '$1'); // `name@range` keys apply to name
// Where Node would find `name` from the package at `from`: its own node_modules, then upwards.
function resolveFrom(from, name) {
  for (let dir = from; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf('/node_modules/')))) {
    const candidate = `${dir ? `${dir}/` : ''}node_modules/${name}`;
    if (committed.packages[candidate]) return candidate;
    if (!dir) return null;
  }
}
function checkOverrides(overrides, parent) {
  for (const [key, value] of Object.entries(overrides ?? {})) {
    if (key === '.') continue;
    const name = specName(key);
    const spec = typeof value === 'string' ? value : value['.'];
    if (typeof spec === 'string' && /^\d+\.\d+\.\d+(-[\w.]+)?$/.test(spec)) {
      const paths = parent
        ? lockedPaths
            .filter((p) => nameOf(p) === parent)
            .map((p) => resolveFrom(p, name))
            .filter(Boolean)
        : lockedPaths.filter((p) => nameOf(p) === name);
      for (const path of new Set(paths)) {
        const locked = committed.packages[path].version;
        if (locked !== spec)
          problems.push(
            `override: ${parent ? `${parent} > ` : ''}${name} is ${spec} in package.json, ${path} is locked at ${locked}`,
          );
      }
    }
    if (typeof value === 'object') checkOverrides(value, name);
  }
}
checkOverrides(pkg.overrides, null);

if (problems.length) {
  console.error(`check-lockfile: package-lock.json does not match package.json (${problems.length} entries):`);
  for (const p of problems.slice(0, 30)) console.error(`  ${p}`);
  if (problems.length > 30) console.error(`  … and ${problems.length - 30} more`);
  console.error('Run `npm install` (it completes the lockfile) and commit package-lock.json. For an');
  console.error("override, first delete that package's entries from package-lock.json: npm keeps them.");
  process.exit(1);
}
console.log(`check-lockfile: package-lock.json matches package.json (${have.size - 1} packages)`);
