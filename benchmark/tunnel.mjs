// The browser tunnel under load, beside the one Sentry's docs show. Two loopback HTTP servers,
// each in its own process, take POST /monitoring with a fresh browser error envelope per request
// (a new event_id each time, so deduplication never short-cuts one):
//   ours    handleTunnel(request, { address }): checks, parses, scrubs, source-maps and
//           fingerprints the event, fsyncs it to the spool, then answers; the sinks deliver it
//           to the ingest afterwards
//   plain   the tunnel in Sentry's docs (docs.sentry.io, "Using the tunnel option"): read the
//           body, check the DSN's host and project, fetch(upstream, { body }) and answer with
//           the upstream's status; no scrubbing, no disk
// Both send to one loopback ingest (benchmark/lib/ingest.mjs, at idle priority). autocannon
// loads each for DURATION seconds with CONNECTIONS connections, ROUNDS times, taking turns;
// reports envelopes/s and p99 latency (medians of rounds) and ours/plain ratios, and for ours
// whether every accepted event reached the ingest.
// Env: DURATION (s, 10), CONNECTIONS (10), ROUNDS (3). Writes benchmark/results/tunnel.json.
// Not a test: `npm run bench:tunnel` after `npm run build`.
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import autocannon from 'autocannon';
import { startIngest } from './lib/ingest.mjs';
import { root } from './lib/contenders.mjs';
import { envNumber, median, writeResult } from './lib/results.mjs';

const ORIGIN = 'http://127.0.0.1';

if (process.argv[2] === '--serve') {
  await serve(process.argv[3], process.argv[4], process.argv[5]);
} else {
  await main();
}

/** A browser error envelope as @sentry/browser writes it (items without `length`). */
function envelopeBody(dsn) {
  const id = randomUUID().replaceAll('-', '');
  const event = {
    event_id: id,
    platform: 'javascript',
    timestamp: Date.now() / 1000,
    sdk: { name: 'sentry.javascript.browser', version: '11.12.0' },
    exception: {
      values: [
        {
          type: 'TypeError',
          value: "Cannot read properties of undefined (reading 'matches')",
          stacktrace: {
            frames: [
              {
                filename: `${ORIGIN}/_next/static/chunks/app/page-1a2b3c.js`,
                function: 'r',
                lineno: 1,
                colno: 2345,
                in_app: true,
              },
              {
                filename: `${ORIGIN}/_next/static/chunks/framework-9f8e.js`,
                function: 'u',
                lineno: 9,
                colno: 10111,
                in_app: false,
              },
            ],
          },
          mechanism: { type: 'onerror', handled: false },
        },
      ],
    },
    request: { url: `${ORIGIN}/screen?id=S-1042`, headers: { 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64)' } },
    breadcrumbs: [{ timestamp: Date.now() / 1000, category: 'ui.click', message: 'button[type=submit]' }],
  };
  const header = { event_id: id, sent_at: new Date().toISOString(), sdk: event.sdk, dsn };
  return `${JSON.stringify(header)}\n{"type":"event"}\n${JSON.stringify(event)}`;
}

/** The child: one tunnel on a free port; prints the port. */
async function serve(variant, dsn, dataDir) {
  let handle;
  if (variant === 'ours') {
    const tracker = createRequire(import.meta.url)(join(root, 'index.js'));
    tracker.init({ dsn, dataDir, tunnel: { maxRequestsPerMinute: 1e6, maxSpoolBytes: 1e12 } });
    handle = async (req, body) => {
      const pick = ['content-type', 'content-length', 'origin'];
      const request = new Request(`http://${req.headers.host}${req.url}`, {
        method: req.method,
        headers: Object.fromEntries(pick.filter((h) => req.headers[h]).map((h) => [h, req.headers[h]])),
        body,
      });
      return tracker.handleTunnel(request, { address: req.socket.remoteAddress });
    };
  } else {
    const upstream = new URL(dsn);
    const project = upstream.pathname.replace(/^\//, '');
    const url = `${upstream.protocol}//${upstream.host}/api/${project}/envelope/`;
    // Sentry's docs: parse the header, check host and project, forward the bytes.
    handle = async (_req, body) => {
      const header = JSON.parse(body.toString('utf8').split('\n')[0]);
      const sent = new URL(header.dsn);
      if (sent.host !== upstream.host || sent.pathname.replace(/^\//, '') !== project) {
        return new Response(null, { status: 400 });
      }
      const res = await fetch(`${url}?sentry_key=${sent.username}&sentry_version=7`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/x-sentry-envelope' },
      });
      return new Response(null, { status: res.status });
    };
  }
  const server = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const answer = await handle(req, Buffer.concat(chunks));
    res.writeHead(answer.status, Object.fromEntries(answer.headers)).end(Buffer.from(await answer.arrayBuffer()));
  });
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));
}

async function main() {
  const DURATION = envNumber('DURATION', 10);
  const CONNECTIONS = envNumber('CONNECTIONS', 10);
  const ROUNDS = envNumber('ROUNDS', 3);
  const ingest = await startIngest();
  const rounds = { ours: [], plain: [] };
  for (let round = 0; round < ROUNDS; round++) {
    for (const variant of round % 2 ? ['plain', 'ours'] : ['ours', 'plain']) {
      const dataDir = mkdtempSync(join(tmpdir(), 'et-bench-tunnel-'));
      const child = spawn(process.execPath, [import.meta.filename, '--serve', variant, ingest.dsn, dataDir], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const port = await new Promise((done) => child.stdout.once('data', (d) => done(Number(String(d).trim()))));
      const before = (await ingest.state()).accepted;
      const result = await autocannon({
        url: `http://127.0.0.1:${port}/monitoring`,
        method: 'POST',
        connections: CONNECTIONS,
        duration: DURATION,
        headers: { 'content-type': 'text/plain;charset=UTF-8', origin: `http://127.0.0.1:${port}` },
        setupClient: (client) => client.setBody(envelopeBody(ingest.dsn)),
        requests: [{ setupRequest: (req) => ({ ...req, body: envelopeBody(ingest.dsn) }) }],
      });
      // What the tunnel accepted, given time to reach the ingest.
      let delivered = 0;
      for (let i = 0; i < 100; i++) {
        delivered = (await ingest.state()).accepted - before;
        if (delivered >= result['2xx']) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      child.kill();
      rmSync(dataDir, { recursive: true, force: true });
      rounds[variant].push({
        perSecond: result['2xx'] / DURATION,
        p99: result.latency.p99,
        ok: result['2xx'],
        other: result.non2xx + result.errors,
        delivered,
      });
      console.log(
        `round ${round + 1} ${variant.padEnd(5)} ${(result['2xx'] / DURATION).toFixed(0)} envelopes/s, ` +
          `p99 ${result.latency.p99} ms, ${result.non2xx + result.errors} not 2xx, ${delivered}/${result['2xx']} delivered`,
      );
    }
  }
  await ingest.close();
  const summary = Object.fromEntries(
    Object.entries(rounds).map(([k, rs]) => [
      k,
      { perSecond: median(rs.map((r) => r.perSecond)), p99: median(rs.map((r) => r.p99)), rounds: rs },
    ]),
  );
  summary.ratio = {
    perSecond: summary.ours.perSecond / summary.plain.perSecond,
    p99: summary.ours.p99 / summary.plain.p99,
  };
  const file = writeResult('tunnel', { DURATION, CONNECTIONS, ROUNDS, ...summary });
  console.log(
    `\nmedians: ours ${summary.ours.perSecond.toFixed(0)}/s p99 ${summary.ours.p99} ms; ` +
      `plain ${summary.plain.perSecond.toFixed(0)}/s p99 ${summary.plain.p99} ms; ` +
      `ours/plain ${summary.ratio.perSecond.toFixed(2)}× throughput, ${summary.ratio.p99.toFixed(2)}× p99\n${file}`,
  );
}
