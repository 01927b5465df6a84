// A Next.js route under load, three ways: no tracker, this addon, and @sentry/nextjs. The App
// Router example (examples/nextjs) is copied three times to a work folder and gets a route,
// app/api/load/route.ts, that throws on every THROW_EVERY-th request (a module counter) and
// otherwise answers small JSON:
//   none    the same app with an empty register() and no onRequestError
//   ours    the example as it is: its own instrumentation.ts and next.config.ts, the addon
//           installed from the two tarballs `npm run pack:local` makes (see lib/pack.mjs)
//   sentry  @sentry/nextjs (latest) as its manual setup for the App Router shows: Sentry.init
//           in register() on the Node.js runtime, onRequestError = Sentry.captureRequestError,
//           next.config.ts wrapped in withSentryConfig (no auth token, source maps not uploaded)
// Each is built with `next build` and, in every round, started fresh with `next start` on
// 127.0.0.1, warmed up for WARMUP seconds, then loaded by autocannon (programmatic API) for
// DURATION seconds with CONNECTIONS connections; the variants take turns going first. Both
// trackers send to a loopback ingest (DSN http://benchkey@127.0.0.1:<port>/1), which counts the
// events it accepted against the 500s autocannon saw; it runs in its own process at idle priority, so
// the variant comes first when both want a core (a remote Sentry would not compete). Reports
// requests/s and p99 latency per variant (medians of ROUNDS) and the ratios to no tracker. Only
// 127.0.0.1 is loaded; npm install reaches the registry.
// Env: DURATION (s, 10), CONNECTIONS (20), WARMUP (s, 3), ROUNDS (3), THROW_EVERY (10),
// SENTRY_NEXTJS (the version to install, "latest"), SENTRY_NEXTJS_FALLBACK (installed when that
// one cannot be, e.g. a registry mirror lacks one of its dependencies: "11.1.0"),
// NEXT_WORKDIR (keep and reuse the built apps there; default a temporary folder, removed),
// PACK_DIR / PACK_BUILD (see lib/pack.mjs), BASELINE_PACK_DIR (two tarballs of an earlier build
// of the addon, e.g. from `node scripts/pack-local.mjs --no-build --out <dir>` in a checkout of
// the commit to compare with: adds the variant "baseline", the same app with that build, so a
// change's cost is measured side by side in one run), VARIANTS (which to run, comma-separated,
// default all). Writes benchmark/results/next-route.json.
// Not a test: `npm run bench:next` after `npm run build`; the first run installs and builds
// three apps (a few minutes).
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon from 'autocannon';
import { startIngest } from './lib/ingest.mjs';
import { order, root } from './lib/contenders.mjs';
import { packAddon } from './lib/pack.mjs';
import { envNumber, median, packageVersion, pct, writeResult } from './lib/results.mjs';

const DURATION = envNumber('DURATION', 10);
const CONNECTIONS = envNumber('CONNECTIONS', 20);
const WARMUP = envNumber('WARMUP', 3);
const ROUNDS = envNumber('ROUNDS', 3);
const THROW_EVERY = envNumber('THROW_EVERY', 10);
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const SENTRY_NEXTJS = process.env.SENTRY_NEXTJS ?? 'latest';
const SENTRY_NEXTJS_FALLBACK = process.env.SENTRY_NEXTJS_FALLBACK ?? '11.1.0';
const keep = Boolean(process.env.NEXT_WORKDIR);
const work = keep ? resolve(process.env.NEXT_WORKDIR) : mkdtempSync(join(tmpdir(), 'et-bench-next-'));
const env = { ...process.env, NEXT_TELEMETRY_DISABLED: '1' };

const ALL_VARIANTS = {
  none: 'no tracker',
  ours: '@calmony/error-tracker',
  baseline: '@calmony/error-tracker (baseline)',
  sentry: '@sentry/nextjs',
};
const BASELINE = process.env.BASELINE_PACK_DIR;
const chosen = (process.env.VARIANTS ?? 'none,ours,baseline,sentry').split(',').map((v) => v.trim());
const VARIANTS = Object.fromEntries(
  Object.entries(ALL_VARIANTS).filter(([v]) => chosen.includes(v) && (v !== 'baseline' || BASELINE)),
);

const LOAD_ROUTE = `// Added by benchmark/next-route.mjs: small JSON, and every ${THROW_EVERY}th request throws.
// Each request first names its user (lib/auth.ts, from the x-user-id header autocannon sends),
// as an app with an auth layer does: with the addon, its request scope gets a user and a tag.
import { currentUser } from '../../../lib/auth';

export const dynamic = 'force-dynamic';

let count = 0;

export async function GET(request: Request) {
  await currentUser();
  count += 1;
  if (count % ${THROW_EVERY} === 0) {
    throw new Error('order ' + count + ' not found');
  }
  return Response.json({ ok: true, n: count, path: new URL(request.url).pathname });
}
`;

// The example's per-request user, ops and report routes (issue 19), as each variant writes them.
const SCOPED = (imports, setUser, setTag, addBreadcrumb) => ({
  'lib/auth.ts': `${imports}import { headers } from 'next/headers';

export async function currentUser(): Promise<{ id: string; team: string } | null> {
  const h = await headers();
  const id = h.get('x-user-id');
  if (!id) return null;
  const user = { id, team: h.get('x-team') ?? 'screening' };
  ${setUser('{ id: user.id }')};
  ${setTag("'team'", 'user.team')};
  return user;
}
`,
  'app/api/report/route.ts': `${imports}import { currentUser } from '../../../lib/auth';
import { buildReport } from '../../../lib/screening';

export const dynamic = 'force-dynamic';

export async function GET(request: Request) {
  const user = await currentUser();
  const ref = request.headers.get('x-request-ref') ?? 'none';
  ${setTag("'ref'", 'ref')};
  console.warn(\`report \${ref} requested\`);
  const health = await fetch(new URL('/api/health', request.url), { cache: 'no-store' });
  ${addBreadcrumb("{ category: 'report', message: \`report \${ref}: lists are \${(await health.json()).lists}\` }")};
  return Response.json(buildReport(user?.id ?? 'anonymous'));
}
`,
  'app/api/ops/route.ts': `export function GET() {
  return new Response(null, { status: 404 });
}
`,
});

// The variants that do not use the addon: its own call sites replaced by their plain or
// @sentry/nextjs equivalents, so the three apps differ only in the tracker.
const FILES = {
  baseline: SCOPED(
    '',
    () => 'void 0',
    () => 'void 0',
    () => 'void 0',
  ),
  none: {
    ...SCOPED(
      '',
      () => 'void 0',
      () => 'void 0',
      () => 'void 0',
    ),
    'instrumentation.ts': `// No tracker: Next.js's own error logging only.
export async function register() {}
`,
    'next.config.ts': `import type { NextConfig } from 'next';

const config: NextConfig = {};

export default config;
`,
    'app/api/subjects/route.ts': `import { loadSubject } from '../../../lib/screening';

export async function GET(request: Request) {
  try {
    return Response.json(loadSubject(new URL(request.url).searchParams.get('id') ?? ''));
  } catch (err) {
    console.error(err);
    return Response.json({ error: 'Internal server error' }, { status: 500, headers: { 'cache-control': 'no-store' } });
  }
}
`,
  },
  sentry: {
    ...SCOPED(
      "import * as Sentry from '@sentry/nextjs';\n",
      (user) => `Sentry.setUser(${user})`,
      (key, value) => `Sentry.setTag(${key}, ${value})`,
      (crumb) => `Sentry.addBreadcrumb(${crumb})`,
    ),
    'instrumentation.ts': `// @sentry/nextjs, as its manual setup for the App Router shows.
import * as Sentry from '@sentry/nextjs';

export async function register() {
  if (process.env.NEXT_RUNTIME === 'nodejs') {
    Sentry.init({ dsn: process.env.SENTRY_DSN });
  }
}

export const onRequestError = Sentry.captureRequestError;
`,
    'next.config.ts': `import type { NextConfig } from 'next';
import { withSentryConfig } from '@sentry/nextjs/config'; // its home since v11

const config: NextConfig = {};

export default withSentryConfig(config, {
  silent: true,
  telemetry: false,
  sourcemaps: { disable: true },
});
`,
    'app/api/subjects/route.ts': `import * as Sentry from '@sentry/nextjs';
import { loadSubject } from '../../../lib/screening';

export async function GET(request: Request) {
  try {
    return Response.json(loadSubject(new URL(request.url).searchParams.get('id') ?? ''));
  } catch (err) {
    const requestId = Sentry.captureException(err, { extra: { lookup: 'subject' } });
    return Response.json({ error: 'Internal server error', requestId }, { status: 500, headers: { 'cache-control': 'no-store' } });
  }
}
`,
  },
};

function sh(args, cwd) {
  try {
    execFileSync(npm, args, { cwd, env, stdio: 'pipe', maxBuffer: 64 * 1024 * 1024 });
  } catch (e) {
    throw new Error(`npm ${args.join(' ')} failed in ${cwd}:\n${e.stdout}\n${e.stderr}`);
  }
}

/** Copies, installs and builds one variant (reused when NEXT_WORKDIR already has it built). */
function prepare(variant, tarballs) {
  const app = join(work, variant);
  if (keep && existsSync(join(app, '.next', 'BUILD_ID'))) return app;
  rmSync(app, { recursive: true, force: true });
  cpSync(join(root, 'examples', 'nextjs'), app, {
    recursive: true,
    filter: (src) => !/[\\/](node_modules|\.next|error-tracker-data)$/.test(src),
  });
  mkdirSync(join(app, 'app', 'api', 'load'), { recursive: true });
  writeFileSync(join(app, 'app', 'api', 'load', 'route.ts'), LOAD_ROUTE);
  for (const [file, text] of Object.entries(FILES[variant] ?? {})) writeFileSync(join(app, file), text);
  // The browser half (Sentry's browser SDK, the tunnel route, the screening form and the
  // postbuild that hides its maps) is not what this measures, and only this build has it:
  // every variant runs without it, so the apps differ only in the server's tracker.
  for (const file of ['instrumentation-client.ts', 'app/monitoring', 'app/screen', 'app/global-error.tsx']) {
    rmSync(join(app, file), { recursive: true, force: true });
  }
  {
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
    delete pkg.scripts.postbuild;
    delete pkg.dependencies['@sentry/browser'];
    writeFileSync(join(app, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  }
  const started = Date.now();
  if (variant === 'ours' || variant === 'baseline') {
    const from =
      variant === 'ours'
        ? tarballs
        : readdirSync(BASELINE)
            .filter((f) => f.endsWith('.tgz'))
            .map((t) => join(resolve(BASELINE), t));
    sh(['install', '--no-audit', '--no-fund', ...from], app);
  } else {
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
    delete pkg.dependencies['@calmony/error-tracker'];
    writeFileSync(join(app, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
    if (variant === 'sentry') {
      try {
        sh(['install', '--no-audit', '--no-fund', `@sentry/nextjs@${SENTRY_NEXTJS}`], app);
      } catch (e) {
        const reason =
          (/npm error notarget (.*)/.exec(e.message) ?? /npm error (code .*)/.exec(e.message))?.[1]?.replace(
            /\.$/,
            '',
          ) ?? e.message.slice(0, 300);
        console.log(
          `@sentry/nextjs@${SENTRY_NEXTJS} could not be installed (${reason}); installing ${SENTRY_NEXTJS_FALLBACK}`,
        );
        writeFileSync(
          join(app, 'install-note.txt'),
          `@sentry/nextjs@${SENTRY_NEXTJS} could not be installed (${reason}); ${SENTRY_NEXTJS_FALLBACK} was installed instead`,
        );
        sh(['install', '--no-audit', '--no-fund', `@sentry/nextjs@${SENTRY_NEXTJS_FALLBACK}`], app);
      }
    } else {
      sh(['install', '--no-audit', '--no-fund'], app);
    }
  }
  const installed = Date.now();
  sh(['run', 'build'], app);
  console.log(
    `${VARIANTS[variant]}: installed in ${((installed - started) / 1000).toFixed(0)} s, built in ${((Date.now() - installed) / 1000).toFixed(0)} s`,
  );
  return app;
}

async function freePort() {
  return new Promise((done) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => done(port));
    });
  });
}

/** `next start` in its own process group (so stopping it stops whatever it forked). */
async function startServer(app, ingest) {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(join(app, 'node_modules', '.bin', 'next'), ['start', '-H', '127.0.0.1', '-p', String(port)], {
    cwd: app,
    detached: true,
    env: { ...env, SENTRY_DSN: ingest.dsn, ERROR_TRACKER_DIR: join(app, 'error-tracker-data') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keepTail = (d) => {
    log = (log + d).slice(-8000);
  };
  server.stdout.on('data', keepTail);
  server.stderr.on('data', keepTail);
  const exited = new Promise((r) => server.on('exit', r));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`next start exited ${server.exitCode}:\n${log}`);
    try {
      if ((await fetch(`${base}/`)).ok) break;
    } catch {}
    if (Date.now() > deadline) throw new Error(`next start did not serve within 60 s:\n${log}`);
    await sleep(200);
  }
  const stop = async () => {
    try {
      process.kill(-server.pid, 'SIGTERM');
    } catch {}
    const t = setTimeout(() => {
      try {
        process.kill(-server.pid, 'SIGKILL');
      } catch {}
    }, 10_000);
    await exited;
    clearTimeout(t);
  };
  return { base, stop, log: () => log };
}

const load = (url, duration) =>
  autocannon({ url, connections: CONNECTIONS, duration, headers: { 'x-user-id': 'bench-user' } });

/** Waits until the ingest has had nothing new for a second (at most 15 s). */
async function settle(ingest) {
  const deadline = Date.now() + 15_000;
  let last = -1;
  while (Date.now() < deadline) {
    const { accepted } = await ingest.state();
    if (accepted === last) return;
    last = accepted;
    await sleep(1000);
  }
}

// The temporary work folder goes however this ends (a kept NEXT_WORKDIR stays).
process.on('exit', () => {
  if (!keep) rmSync(work, { recursive: true, force: true });
});
const tarballs = packAddon(join(work, 'pack'));
const apps = {};
for (const variant of Object.keys(VARIANTS)) apps[variant] = prepare(variant, tarballs);
const anyApp = Object.values(apps)[0];
const versions = {
  next: packageVersion('next', anyApp),
  sentryNextjs: apps.sentry ? packageVersion('@sentry/nextjs', apps.sentry) : null,
  sentryNextjsRequested: SENTRY_NEXTJS,
  sentryNextjsNote:
    apps.sentry && existsSync(join(apps.sentry, 'install-note.txt'))
      ? readFileSync(join(apps.sentry, 'install-note.txt'), 'utf8').trim()
      : null,
  react: packageVersion('react', anyApp),
};

const runs = Object.fromEntries(Object.keys(VARIANTS).map((v) => [v, []]));
for (let round = 0; round < ROUNDS; round++) {
  for (const variant of order(round, Object.keys(VARIANTS))) {
    const ingest = await startIngest();
    const server = await startServer(apps[variant], ingest);
    try {
      const url = `${server.base}/api/load`;
      await load(url, WARMUP);
      await settle(ingest);
      await ingest.reset();
      const r = await load(url, DURATION);
      await settle(ingest);
      const { accepted } = await ingest.state();
      const row = {
        round,
        requestsPerSecond: r.requests.total / r.duration,
        requests: r.requests.total,
        p50Ms: r.latency.p50,
        p99Ms: r.latency.p99,
        averageMs: r.latency.average,
        ok: r['2xx'],
        non2xx: r.non2xx,
        errors: r.errors,
        timeouts: r.timeouts,
        eventsAccepted: accepted,
        deliveredFraction: variant === 'none' || !r.non2xx ? null : accepted / r.non2xx,
      };
      runs[variant].push(row);
      console.log(
        `round ${round + 1}/${ROUNDS} ${VARIANTS[variant].padEnd(24)} ${row.requestsPerSecond.toFixed(0)} req/s  p99 ${row.p99Ms} ms  500s ${row.non2xx}  events ${row.eventsAccepted}`,
      );
    } finally {
      await server.stop();
      await ingest.close();
    }
  }
}

const summary = (rs) => ({
  requestsPerSecond: median(rs.map((r) => r.requestsPerSecond)),
  p99Ms: median(rs.map((r) => r.p99Ms)),
  p50Ms: median(rs.map((r) => r.p50Ms)),
  errorShare: median(rs.map((r) => r.non2xx / r.requests)),
  // Requests still in flight when autocannon stops are not counted as 500s, but their events
  // arrive: a fraction a little above 1 is that, and is shown as 1.
  deliveredFraction: rs[0]?.deliveredFraction == null ? null : Math.min(1, median(rs.map((r) => r.deliveredFraction))),
  connectionErrors: rs.reduce((n, r) => n + r.errors + r.timeouts, 0),
});
const byVariant = Object.fromEntries(Object.keys(VARIANTS).map((v) => [v, { name: VARIANTS[v], ...summary(runs[v]) }]));
const vsOther = (v, other) => ({
  requestsPerSecond: byVariant[v].requestsPerSecond / byVariant[other].requestsPerSecond,
  p99Ms: byVariant[v].p99Ms / byVariant[other].p99Ms,
});
const vsNone = (v) => vsOther(v, 'none');
writeResult('next-route', {
  benchmark: 'next-route',
  durationS: DURATION,
  warmupS: WARMUP,
  connections: CONNECTIONS,
  throwEvery: THROW_EVERY,
  rounds: ROUNDS,
  node: process.version,
  ...versions,
  ...byVariant,
  ratios: Object.fromEntries([
    ...Object.keys(VARIANTS)
      .filter((v) => v !== 'none' && VARIANTS.none)
      .map((v) => [v, vsNone(v)]),
    ...(VARIANTS.baseline && VARIANTS.ours ? [['oursVsBaseline', vsOther('ours', 'baseline')]] : []),
  ]),
  runs,
});
console.log(
  `\nNext.js ${versions.next} route, 1 in ${THROW_EVERY} requests throws, ${CONNECTIONS} connections × ${DURATION} s, median of ${ROUNDS}:`,
);
for (const v of Object.keys(VARIANTS)) {
  const s = byVariant[v];
  const ratio =
    v === 'none' || !VARIANTS.none
      ? ''
      : `  (${(vsNone(v).requestsPerSecond * 100).toFixed(0)}% of no tracker's req/s, p99 ×${vsNone(v).p99Ms.toFixed(2)})`;
  const delivered = v === 'none' ? '' : `  events delivered ${pct(s.deliveredFraction)}`;
  console.log(`  ${s.name.padEnd(24)} ${s.requestsPerSecond.toFixed(0)} req/s  p99 ${s.p99Ms} ms${ratio}${delivered}`);
}
if (VARIANTS.baseline && VARIANTS.ours) {
  const r = vsOther('ours', 'baseline');
  console.log(
    `  ours against the baseline build: ${(r.requestsPerSecond * 100).toFixed(1)}% of its req/s, p99 ×${r.p99Ms.toFixed(2)}`,
  );
}
