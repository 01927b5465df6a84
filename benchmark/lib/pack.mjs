// The addon as users install it: the two tarballs `npm run pack:local` leaves (the main package,
// with every platform package as an optional dependency, and this platform's binary package).
// By default they are packed from the build already in the working tree
// (`scripts/pack-local.mjs --no-build`), so every benchmark measures the same binary and
// nothing is rebuilt under a concurrent edit. PACK_BUILD=1 runs `npm run pack:local` as it is
// (a release build first); PACK_DIR=<dir> uses tarballs already there.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './contenders.mjs';

/** Returns the paths of the two tarballs, packed into `out`. */
export function packAddon(out) {
  if (process.env.PACK_DIR) {
    const tarballs = readdirSync(process.env.PACK_DIR).filter((f) => f.endsWith('.tgz'));
    if (tarballs.length !== 2) throw new Error(`PACK_DIR should hold the two tarballs, has: ${tarballs.join(', ')}`);
    return tarballs.map((t) => join(process.env.PACK_DIR, t));
  }
  mkdirSync(out, { recursive: true });
  const args = ['scripts/pack-local.mjs', '--out', out, ...(process.env.PACK_BUILD === '1' ? [] : ['--no-build'])];
  execFileSync(process.execPath, args, { cwd: root, stdio: 'pipe' });
  const tarballs = readdirSync(out)
    .filter((f) => f.endsWith('.tgz'))
    .map((t) => join(out, t));
  if (tarballs.length !== 2) throw new Error(`packing left ${tarballs.join(', ')}`);
  return tarballs;
}
