// npm run pack:local: builds the addon for this machine and leaves in pack/ exactly the
// tarballs a registry would serve for this platform: the main package (loader, types, CLI) and
// this platform's binary package (npm/<platform>/, made by `napi create-npm-dirs`). Install both
// into an app with `npm install pack/*.tgz`.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const run = (cmd, args, cwd = root) => execFileSync(cmd, args, { cwd, stdio: 'inherit' });

// --no-build packs the .node already built (the benchmarks use it, so all measure one binary).
if (!process.argv.includes('--no-build')) run(npm, ['run', 'build']);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const binary = readdirSync(root).find((f) => f.startsWith(`${pkg.napi.binaryName}.`) && f.endsWith('.node'));
if (!binary) throw new Error('the build left no .node file');
const platform = binary.slice(pkg.napi.binaryName.length + 1, -'.node'.length); // e.g. linux-x64-gnu
const platformDir = join(root, 'npm', platform);
copyFileSync(join(root, binary), join(platformDir, binary));

// --out <dir> packs elsewhere (the tests use their own folders, so they never share pack/).
const outFlag = process.argv.indexOf('--out');
const out = outFlag === -1 ? join(root, 'pack') : resolve(process.argv[outFlag + 1]);
rmSync(out, { recursive: true, force: true });
mkdirSync(out);
run(npm, ['pack', '--pack-destination', out], platformDir);

// The main package as `napi pre-publish` would publish it: every platform package as an
// optional dependency at this version (npm installs the one matching the machine). Staged in a
// temporary copy, so the working tree's package.json is never rewritten.
const stage = mkdtempSync(join(tmpdir(), 'et-pack-'));
for (const file of [...pkg.files, 'README.md']) {
  mkdirSync(dirname(join(stage, file)), { recursive: true });
  copyFileSync(join(root, file), join(stage, file));
}
const optionalDependencies = Object.fromEntries(
  readdirSync(join(root, 'npm')).map((p) => [`${pkg.name}-${p}`, pkg.version]),
);
writeFileSync(join(stage, 'package.json'), JSON.stringify({ ...pkg, optionalDependencies }, null, 2) + '\n');
run(npm, ['pack', '--pack-destination', out], stage);
rmSync(stage, { recursive: true, force: true });
console.log(`\npack/ holds ${readdirSync(out).join(' and ')}`);
