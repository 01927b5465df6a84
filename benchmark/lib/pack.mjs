// The addon as users install it: the two tarballs `npm run pack:local` leaves (the main package,
// with every platform package as an optional dependency, and this platform's binary package).
// By default they are packed here from the build already in the working tree, the same steps
// as scripts/pack-local.mjs without its `npm run build`, so every benchmark measures the same
// binary and nothing is rebuilt under a concurrent edit. PACK_BUILD=1 runs
// `npm run pack:local -- --out <dir>` instead (a release build first); PACK_DIR=<dir> uses
// tarballs already there.
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { root } from './contenders.mjs';

const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';

function packQuietly(dir, out) {
  execFileSync(npm, ['pack', '--pack-destination', out], { cwd: dir, stdio: 'pipe' });
}

/** Returns the paths of the two tarballs, packed into `out`. */
export function packAddon(out) {
  if (process.env.PACK_DIR) {
    const tarballs = readdirSync(process.env.PACK_DIR).filter((f) => f.endsWith('.tgz'));
    if (tarballs.length !== 2) throw new Error(`PACK_DIR should hold the two tarballs, has: ${tarballs.join(', ')}`);
    return tarballs.map((t) => join(process.env.PACK_DIR, t));
  }
  mkdirSync(out, { recursive: true });
  if (process.env.PACK_BUILD === '1') {
    execFileSync(npm, ['run', 'pack:local', '--', '--out', out], { cwd: root, stdio: 'pipe' });
    return readdirSync(out).map((t) => join(out, t));
  }
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const binary = readdirSync(root).find((f) => f.startsWith(`${pkg.napi.binaryName}.`) && f.endsWith('.node'));
  if (!binary) throw new Error('no .node file in the working tree: run `npm run build` first');
  const platform = binary.slice(pkg.napi.binaryName.length + 1, -'.node'.length);
  const stage = mkdtempSync(join(tmpdir(), 'et-bench-pack-'));
  try {
    // This platform's package, staged so npm/<platform>/ is left as it is.
    const platformStage = join(stage, 'platform');
    mkdirSync(platformStage);
    for (const f of readdirSync(join(root, 'npm', platform))) {
      if (!f.endsWith('.node')) copyFileSync(join(root, 'npm', platform, f), join(platformStage, f));
    }
    copyFileSync(join(root, binary), join(platformStage, binary));
    packQuietly(platformStage, out);
    // The main package as `napi pre-publish` would publish it.
    const mainStage = join(stage, 'main');
    for (const file of [...pkg.files, 'README.md']) {
      mkdirSync(dirname(join(mainStage, file)), { recursive: true });
      copyFileSync(join(root, file), join(mainStage, file));
    }
    const optionalDependencies = Object.fromEntries(
      readdirSync(join(root, 'npm')).map((p) => [`${pkg.name}-${p}`, pkg.version]),
    );
    writeFileSync(join(mainStage, 'package.json'), JSON.stringify({ ...pkg, optionalDependencies }, null, 2) + '\n');
    packQuietly(mainStage, out);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
  const tarballs = readdirSync(out).filter((f) => f.endsWith('.tgz')).map((t) => join(out, t));
  if (tarballs.length !== 2 || !tarballs.every(existsSync)) throw new Error(`packing left ${tarballs.join(', ')}`);
  return tarballs;
}
