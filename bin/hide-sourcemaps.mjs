// `error-tracker hide-sourcemaps [distDir]`, run after `next build` (a `postbuild` script): the
// browser's source maps leave the served tree, so `/_next/static/**/*.map` answers 404 and
// nobody outside can read the app's source, but the tracker can still resolve browser frames
// through them.
//
// - Every `<distDir>/static/**/*.map` moves to a private folder (folders 0700, files 0600),
//   `.error-tracker/sourcemaps/` beside `distDir` (the project root, where `next start` runs)
//   unless `--out` or ERROR_TRACKER_SOURCEMAPS_DIR says otherwise. Not inside `distDir`:
//   `next build` empties `distDir` (all but `cache/`), which would lose the maps of earlier
//   builds, and tabs left open across a deploy still run their chunks. Not in `static/`: Next
//   serves all of it under `/_next/static/`.
// - The `sourceMappingURL` comments are taken out of the served `.js` and `.css`, so browsers'
//   developer tools do not ask for maps that are gone.
// - `index.json` in that folder lists each build's maps by the URL path their chunk is served
//   at (`/_next/static/chunks/…js`) and by Sentry debug id (`//# debugId=` in the chunk, or
//   `debug_id` in the map) when there is one. Which map is a chunk's comes from the chunk's
//   comment (Turbopack names a map by its own hash, not `<chunk>.map`), else a sibling
//   `<chunk>.map`; an inline `data:` map is written out and taken out of the chunk too. The tracker (src/sourcemaps/indexed.rs) reads it;
//   a frame's URL only ever selects a key of this index, never a path.
// - The last `--keep` builds (default 5) are kept; older ones are removed.
//
// Running it twice changes nothing the second time.
import {
  chmodSync,
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';

export const USAGE = `usage: error-tracker hide-sourcemaps [distDir] [--out dir] [--keep n]

  Run after \`next build\` (a postbuild script). Moves distDir/static/**/*.map (distDir is
  .next unless given) to a private folder, --out or ERROR_TRACKER_SOURCEMAPS_DIR, else
  .error-tracker/sourcemaps beside distDir; takes the sourceMappingURL comments out of the
  served .js and .css; indexes the maps for the tracker; keeps the last --keep builds (5).
  Needs productionBrowserSourceMaps: true in next.config.`;

/** The index's format: the tracker refuses any other. */
const VERSION = 1;
const DEFAULT_KEEP = 5;
// A `//# sourceMappingURL=` line (or the legacy `//@`), or CSS's block comment form.
const MAP_COMMENT =
  /^[ \t]*(?:\/\/[#@][ \t]*sourceMappingURL=[^\r\n]*|\/\*[#@][ \t]*sourceMappingURL=[^\r\n]*?\*\/[ \t]*)(?:\r?\n|$)/gm;
const MAP_URL =
  /^[ \t]*(?:\/\/[#@][ \t]*sourceMappingURL=([^\s]+)|\/\*[#@][ \t]*sourceMappingURL=([^\s*]+)[ \t]*\*\/)/gm;
const DEBUG_ID = /^[ \t]*\/\/# debugId=([0-9a-fA-F-]{32,36})[ \t]*$/m;

/** Runs the command with its arguments (after `hide-sourcemaps`); returns the exit code. */
export function main(args) {
  let options;
  try {
    options = parseArgs(args);
  } catch (e) {
    console.error(`error-tracker hide-sourcemaps: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (options.help) {
    console.log(USAGE);
    return 0;
  }
  try {
    const done = hideSourcemaps(options);
    console.log(
      `error-tracker hide-sourcemaps: moved ${done.moved} map(s) of build ${done.build} to ${done.outDir}, ` +
        `took the sourceMappingURL comment out of ${done.stripped} file(s); ` +
        `${done.indexed} map(s) indexed, ${done.builds} build(s) kept`,
    );
    if (done.indexed === 0) {
      console.warn(
        'error-tracker hide-sourcemaps: this build has no browser source maps; set ' +
          '`productionBrowserSourceMaps: true` in next.config for readable browser frames',
      );
    }
    return 0;
  } catch (e) {
    console.error(`error-tracker hide-sourcemaps: ${e.message}`);
    return 1;
  }
}

function parseArgs(args) {
  const options = { distDir: '.next', outDir: undefined, keep: DEFAULT_KEEP, help: false };
  let positional = 0;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--help' || arg === '-h') options.help = true;
    else if (arg === '--out') options.outDir = value(args, ++i, arg);
    else if (arg === '--keep') {
      const keep = Number(value(args, ++i, arg));
      if (!Number.isInteger(keep) || keep < 1) throw new Error(`--keep must be a whole number of at least 1`);
      options.keep = keep;
    } else if (arg.startsWith('-')) throw new Error(`unknown option ${arg}`);
    else if (positional++ === 0) options.distDir = arg;
    else throw new Error(`unexpected argument ${arg}`);
  }
  return options;
}

function value(args, i, flag) {
  if (args[i] === undefined) throw new Error(`${flag} needs a value`);
  return args[i];
}

/**
 * The work itself. `distDir` relative to the working directory; `outDir` defaults as the
 * tracker's `sourcemapsDir` does when `next start` runs in the project root.
 */
export function hideSourcemaps({ distDir = '.next', outDir, keep = DEFAULT_KEEP } = {}) {
  const dist = resolve(distDir);
  const staticDir = join(dist, 'static');
  if (!isDir(staticDir)) {
    throw new Error(
      `${staticDir} is not a folder: run this after \`next build\` (and name the distDir if it is not .next)`,
    );
  }
  const out = resolve(
    outDir ?? (process.env.ERROR_TRACKER_SOURCEMAPS_DIR?.trim() || join(dirname(dist), '.error-tracker', 'sourcemaps')),
  );
  if (inside(out, staticDir)) throw new Error(`the private folder ${out} would be served under /_next/static`);
  const build = buildId(dist);
  privateDir(out);
  const buildDir = join(out, 'builds', build);
  privateDir(buildDir);

  const indexPath = join(out, 'index.json');
  const same = readIndex(indexPath).builds.find((b) => b.id === build);
  let moved = 0;
  let stripped = 0;
  // Served chunk (relative to static/) → its map (relative to static/, or inline JSON) and
  // debug id. Turbopack names a chunk's map by the map's own hash, so only the chunk's
  // comment says which map is its own.
  const chunks = new Map();
  const served = walk(staticDir);
  for (const rel of served.filter((f) => /\.(?:m?js|css)$/.test(f))) {
    const file = join(staticDir, rel);
    const text = readFileSync(file, 'utf8');
    const chunk = { map: undefined, inline: undefined, debugId: DEBUG_ID.exec(text)?.[1]?.toLowerCase() };
    const last = [...text.matchAll(MAP_URL)].at(-1);
    const url = last?.[1] ?? last?.[2];
    if (url?.startsWith('data:')) chunk.inline = decodeDataUrl(url);
    else if (url) chunk.map = mapOf(staticDir, rel, url);
    chunks.set(rel, chunk);
    const without = text.replace(MAP_COMMENT, '');
    if (without !== text) {
      writeFileSync(file, without);
      stripped++;
    }
  }
  for (const rel of served.filter((f) => f.endsWith('.map'))) {
    const dest = join(buildDir, rel);
    privateDir(dirname(dest));
    move(join(staticDir, rel), dest);
    moved++;
  }

  const maps = new Map(); // URL path → entry
  const add = (chunkRel, mapRel, debugId) => {
    const entry = { path: `/_next/static/${toUrl(chunkRel)}`, map: ['builds', build, toUrl(mapRel)].join('/') };
    const id = debugId ?? mapDebugId(join(buildDir, mapRel));
    if (id) entry.debugId = id;
    if (!maps.has(entry.path)) maps.set(entry.path, entry);
  };
  for (const [rel, chunk] of chunks) {
    if (chunk.inline) {
      // An inline map is as public as the source it carries: it moves out too.
      const dest = join(buildDir, `${rel}.map`);
      privateDir(dirname(dest));
      writeFileSync(dest, chunk.inline, { mode: 0o600 });
      chmodSync(dest, 0o600);
      moved++;
      add(rel, `${rel}.map`, chunk.debugId);
    } else if (chunk.map && isFile(join(buildDir, chunk.map))) {
      add(rel, chunk.map, chunk.debugId);
    } else if (isFile(join(buildDir, `${rel}.map`))) {
      add(rel, `${rel}.map`, chunk.debugId); // webpack's sibling `<chunk>.map`, comment or not
    }
  }
  // A second run finds the comments gone: what the first one learnt from them stays.
  for (const entry of same?.maps ?? []) {
    if (!maps.has(entry.path) && isFile(join(out, ...entry.map.split('/')))) maps.set(entry.path, entry);
  }
  const sorted = [...maps.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

  const earlier = readIndex(indexPath).builds.filter((b) => b.id !== build);
  const builds = [{ id: build, time: same?.time ?? new Date().toISOString(), maps: sorted }, ...earlier].slice(0, keep);
  for (const old of readdirSafe(join(out, 'builds'))) {
    if (!builds.some((b) => b.id === old)) rmSync(join(out, 'builds', old), { recursive: true, force: true });
  }
  const tmp = `${indexPath}.${process.pid}.tmp`;
  writeFileSync(tmp, `${JSON.stringify({ version: VERSION, builds }, null, 2)}\n`, { mode: 0o600 });
  chmodSync(tmp, 0o600);
  renameSync(tmp, indexPath);
  return { build, outDir: out, moved, stripped, indexed: sorted.length, builds: builds.length };
}

/** Next's build id (`distDir/BUILD_ID`); a build without one is named by its time. */
function buildId(dist) {
  let id;
  try {
    id = readFileSync(join(dist, 'BUILD_ID'), 'utf8').trim();
  } catch {
    id = `build-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  }
  // It names a folder: nothing that could climb out of `builds/`.
  if (!/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$/.test(id) || id.includes('..')) {
    throw new Error(`build id ${JSON.stringify(id)} (in ${join(dist, 'BUILD_ID')}) cannot name a folder`);
  }
  return id;
}

/**
 * The map a chunk's `sourceMappingURL` names, relative to `static/`; `undefined` when it is not
 * a `.map` file inside the served tree (a URL elsewhere, or one that climbs out).
 */
function mapOf(staticDir, chunkRel, url) {
  let path;
  try {
    path = decodeURIComponent(url.split(/[?#]/)[0]);
  } catch {
    return undefined;
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(path) || path.startsWith('/')) return undefined;
  const rel = relative(staticDir, resolve(staticDir, dirname(chunkRel), path));
  return rel.endsWith('.map') && !rel.startsWith('..') && !isAbsolute(rel) ? rel : undefined;
}

/** The JSON of a base64 `data:` URL, or `undefined`. */
function decodeDataUrl(url) {
  const comma = url.indexOf(',');
  if (comma < 0 || !/;base64$/i.test(url.slice(0, comma))) return undefined;
  return Buffer.from(url.slice(comma + 1), 'base64');
}

function toUrl(rel) {
  return rel.split(sep).join('/');
}

function isFile(path) {
  try {
    return lstatSync(path).isFile();
  } catch {
    return false;
  }
}

/** The earlier index, or an empty one when there is none or it cannot be read. */
function readIndex(path) {
  try {
    const index = JSON.parse(readFileSync(path, 'utf8'));
    if (index?.version === VERSION && Array.isArray(index.builds)) return index;
  } catch {}
  return { version: VERSION, builds: [] };
}

function mapDebugId(path) {
  try {
    const map = JSON.parse(readFileSync(path, 'utf8'));
    const id = map.debug_id ?? map.debugId;
    return typeof id === 'string' && /^[0-9a-fA-F-]{32,36}$/.test(id) ? id.toLowerCase() : undefined;
  } catch {
    return undefined;
  }
}

/** Files under `dir`, relative to it; symbolic links are not followed. */
function walk(dir, prefix = '') {
  const out = [];
  for (const entry of readdirSafe(join(dir, prefix), true)) {
    const rel = prefix ? join(prefix, entry.name) : entry.name;
    if (entry.isDirectory()) out.push(...walk(dir, rel));
    else if (entry.isFile()) out.push(rel);
  }
  return out.sort();
}

function readdirSafe(dir, withFileTypes = false) {
  try {
    return readdirSync(dir, { withFileTypes });
  } catch {
    return [];
  }
}

/** Creates `dir` and what is missing above it as 0700, and narrows it if it was there. */
function privateDir(dir) {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stat = lstatSync(dir);
  if (!stat.isDirectory()) throw new Error(`${dir} is not a folder`);
  if ((stat.mode & 0o077) !== 0) chmodSync(dir, 0o700);
}

/** Moves a file, across file systems too, and leaves it readable by this user alone. */
function move(from, to) {
  try {
    renameSync(from, to);
  } catch (e) {
    if (e.code !== 'EXDEV') throw e;
    copyFileSync(from, to);
    unlinkSync(from);
  }
  chmodSync(to, 0o600);
}

function isDir(path) {
  return existsSync(path) && lstatSync(path).isDirectory();
}

function inside(path, dir) {
  const rel = relative(dir, path);
  return rel === '' || (!rel.startsWith('..') && !rel.startsWith(sep) && rel !== '..');
}
