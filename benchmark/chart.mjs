// Renders benchmark/results.json as benchmark/chart.svg: one small panel per benchmark, the
// contenders side by side as labelled horizontal bars with their figures, and a footer naming
// the machine and the versions. Self-contained SVG (no fonts, images or scripts to load), white
// background, 800 px wide, system font, so it reads the same in GitHub's README.
// `npm run bench` calls renderChart(); `node benchmark/chart.mjs` re-renders from results.json.
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const WIDTH = 800;
const PAD = 20;
const LABEL_W = 190; // left column: contender names
const BAR_X = PAD + LABEL_W;
const BAR_MAX = 330; // the longest bar; its figure is written after it
const ROW_H = 24;
const BAR_H = 15;
const FONT = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Helvetica, Arial, sans-serif";

export const COLORS = {
  ours: '#2563eb',
  sentry: '#8b5cf6',
  none: '#6b7280',
  floor: '#cbd5e1',
  text: '#111827',
  muted: '#4b5563',
  rule: '#e5e7eb',
};

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const text = (x, y, s, { size = 12, weight = 400, fill = COLORS.text, anchor = 'start' } = {}) =>
  `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" font-size="${size}" font-weight="${weight}" fill="${fill}" text-anchor="${anchor}">${esc(s)}</text>`;
const rect = (x, y, w, h, fill, extra = '') =>
  `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${Math.max(0, w).toFixed(1)}" height="${h}" fill="${fill}"${extra}/>`;

/** Width of a text at this size, estimated (no font metrics in a static SVG). */
const textWidth = (s, size = 12, bold = false) => String(s).length * size * (bold ? 0.6 : 0.56);

function wrap(s, width, size) {
  const lines = [];
  let line = '';
  for (const word of s.split(' ').filter(Boolean)) {
    const next = line ? `${line} ${word}` : word;
    if (line && textWidth(next, size) > width) {
      lines.push(line);
      line = word;
    } else line = next;
  }
  if (line) lines.push(line);
  return lines;
}

// Figures as people read them.
export const fmt = {
  int: (n) => (n == null ? '–' : Math.round(n).toLocaleString('en-US')),
  us: (ns) => (ns == null ? '–' : `${(ns / 1000).toFixed(ns < 10_000 ? 2 : 1)} µs`),
  pct: (f) => (f == null ? '–' : `${(f * 100).toFixed(f >= 0.995 || f === 0 ? 0 : 1)}%`),
  s: (ms) => (ms == null ? '–' : `${(ms / 1000).toFixed(1)} s`),
  ms: (ms) => (ms == null ? '–' : `${Math.round(ms)} ms`),
  x: (r) => (r == null || !Number.isFinite(r) ? '–' : `${r.toFixed(r < 10 ? 1 : 0)}×`),
};

/**
 * One panel: a title, a note, then rows. A row is { label, color, value, text } and optionally
 * `floor` (drawn as a grey first segment with a tick) or `heading` (a sub-heading, no bar).
 */
function panel(y, { title, note, rows, max }) {
  const out = [];
  let cy = y;
  if (title) {
    out.push(text(PAD, cy + 16, title, { size: 14, weight: 600 }));
    cy += 22;
  }
  for (const line of wrap(note ?? '', WIDTH - 2 * PAD, 11)) {
    out.push(text(PAD, cy + 11, line, { size: 11, fill: COLORS.muted }));
    cy += 15;
  }
  cy += 4;
  // The longest bar is BAR_MAX, or shorter where its figure would not fit after it.
  let barMax = BAR_MAX;
  for (const row of rows) {
    if (row.heading || !(row.value > 0) || !(max > 0)) continue;
    const room = WIDTH - PAD - BAR_X - 7 - textWidth(row.text, 12, row.bold);
    barMax = Math.min(barMax, room / (Math.min(row.value, max) / max));
  }
  const scale = (v) => (max > 0 && v > 0 ? (Math.min(v, max) / max) * barMax : 0);
  for (const row of rows) {
    if (row.heading) {
      out.push(text(BAR_X, cy + 13, row.heading, { size: 11, weight: 600, fill: COLORS.muted }));
      cy += 18;
      continue;
    }
    const by = cy + (ROW_H - BAR_H) / 2;
    out.push(text(BAR_X - 8, cy + ROW_H / 2 + 4, row.label, { anchor: 'end' }));
    const w = scale(row.value);
    out.push(rect(BAR_X, by, w, BAR_H, row.color, ' rx="2"'));
    if (row.floor != null && row.floor > 0) {
      const fw = scale(row.floor);
      out.push(rect(BAR_X, by, fw, BAR_H, COLORS.floor, ' rx="2"'));
      out.push(
        `<line x1="${(BAR_X + fw).toFixed(1)}" y1="${by - 3}" x2="${(BAR_X + fw).toFixed(1)}" y2="${by + BAR_H + 3}" stroke="${COLORS.text}" stroke-width="1.5"/>`,
      );
    }
    if (w === 0)
      out.push(
        `<line x1="${BAR_X}" y1="${by}" x2="${BAR_X}" y2="${by + BAR_H}" stroke="${row.color}" stroke-width="2"/>`,
      );
    out.push(text(BAR_X + w + 7, cy + ROW_H / 2 + 4, row.text, { weight: row.bold ? 600 : 400 }));
    cy += ROW_H;
  }
  return { svg: out.join('\n'), height: cy - y + 10 };
}

function panels(results) {
  const b = results.benchmarks;
  const list = [];
  // Event-loop time per error, beside the floor, for loop-cost (a burst) and steady-cost.
  const cost = (r, title, note) => {
    const row = (key, name) => {
      const s = r[key];
      return {
        label: name,
        color: COLORS[key],
        value: s.captureNs,
        floor: s.floorNs,
        bold: key === 'ours',
        text: `${fmt.us(s.captureNs)} (floor ${fmt.us(s.floorNs)} + ${fmt.us(s.overheadNs)}), ${fmt.pct(s.deliveredFraction)} sent`,
      };
    };
    list.push({
      title,
      note:
        `${note}; grey up to the tick: the floor (new Error and reading err.stack); lower is better` +
        (r.ratios.overhead != null
          ? `; @sentry/node's overhead above the floor is ${fmt.x(r.ratios.overhead)} ours`
          : ''),
      max: Math.max(r.ours.captureNs, r.sentry.captureNs),
      rows: [row('ours', '@calmony/error-tracker'), row('sentry', '@sentry/node')],
    });
  };
  const loop = b['loop-cost'];
  if (loop) {
    cost(
      loop,
      'Event-loop time per captured error, a burst, capture until delivered',
      `active event-loop time per error over capture and flush, ${fmt.int(loop.errorsPerRound)} errors at once with a 3-key context, median of ${loop.rounds} fresh processes`,
    );
  }
  const steady = b['steady-cost'];
  if (steady) {
    cost(
      steady,
      `Event-loop time per captured error at ${fmt.int(steady.ratePerSecond)} errors/s, capture until delivered`,
      `the same, ${fmt.int(steady.errorsPerRound)} errors paced ${steady.batch} at a time so that neither drops any, median of ${steady.rounds} fresh processes`,
    );
  }
  const storm = b.storm;
  if (storm) {
    const row = (key, name) => ({
      label: name,
      color: COLORS[key],
      value: storm[key].deliveredFraction * 100,
      bold: key === 'ours',
      text: `${fmt.pct(storm[key].deliveredFraction)} delivered${storm[key].drainMs != null ? `, last after ${fmt.s(storm[key].drainMs)}` : ', nothing arrived'}`,
    });
    list.push({
      title: `Error storm: ${fmt.int(storm.storm)} errors at once, ingest answers 429 for ${fmt.s(storm.rateLimitedForMs)}`,
      note: `delivered share of the events (higher is better), median of ${storm.rounds}`,
      max: 100,
      rows: [row('ours', '@calmony/error-tracker'), row('sentry', '@sentry/node')],
    });
  }
  const slow = b['slow-ingest'];
  if (slow) {
    const rows = [];
    for (const d of slow.delaysMs) {
      rows.push({ heading: `every request answered after ${d} ms` });
      for (const [key, name] of [
        ['ours', '@calmony/error-tracker'],
        ['sentry', '@sentry/node'],
      ]) {
        const s = slow.byDelay[d][key];
        rows.push({
          label: name,
          color: COLORS[key],
          value: s.deliveredFraction * 100,
          bold: key === 'ours',
          text: `${fmt.pct(s.deliveredFraction)} delivered${s.drainMs != null ? `, last after ${fmt.s(s.drainMs)}` : ''}`,
        });
      }
    }
    list.push({
      title: `Slow ingest: ${fmt.int(slow.errors)} errors at once, the ingest slow to answer`,
      note: `delivered share (higher is better) and time from the first capture to the last event accepted; no rate limit; flush timeout ${fmt.s(slow.flushTimeoutMs)} for both; median of ${slow.rounds}`,
      max: 100,
      rows,
    });
  }
  const next = b['next-route'];
  if (next) {
    const keys = [
      ['none', 'no tracker'],
      ['ours', '@calmony/error-tracker'],
      ['sentry', '@sentry/nextjs'],
    ];
    const rel = (key, field) => (key === 'none' ? '' : ` (${fmt.pct(next.ratios[key][field])} of no tracker)`);
    list.push({
      title: `Next.js ${next.next} route under load, 1 in ${next.throwEvery} requests throws`,
      note: `autocannon, ${next.connections} connections × ${next.durationS} s on 127.0.0.1, median of ${next.rounds} fresh servers each`,
      max: Math.max(...keys.map(([k]) => next[k].requestsPerSecond)),
      rows: [
        { heading: 'requests per second (higher is better)' },
        ...keys.map(([key, name]) => ({
          label: name,
          color: COLORS[key],
          value: next[key].requestsPerSecond,
          bold: key === 'ours',
          text: `${fmt.int(next[key].requestsPerSecond)} req/s${rel(key, 'requestsPerSecond')}`,
        })),
      ],
    });
    list.push({
      title: '',
      max: Math.max(...keys.map(([k]) => next[k].p99Ms)),
      rows: [
        { heading: 'p99 latency (lower is better)' },
        ...keys.map(([key, name]) => ({
          label: name,
          color: COLORS[key],
          value: next[key].p99Ms,
          bold: key === 'ours',
          text:
            `${fmt.ms(next[key].p99Ms)}${key === 'none' ? '' : ` (×${next.ratios[key].p99Ms.toFixed(2)})`}` +
            (next[key].deliveredFraction != null ? `, ${fmt.pct(next[key].deliveredFraction)} of errors sent` : ''),
        })),
      ],
      tight: true,
    });
  }
  const worker = b['worker-throughput'];
  if (worker) {
    list.push({
      title: 'Worker throughput: events per second on the background thread',
      note: `${fmt.int(worker.events)} errors through stack parsing, source maps, context lines, scrubbing, serialising and spooling (higher is better); this is off the event loop, where @sentry/node has no counterpart`,
      max: Math.max(worker.mapped.eventsPerSecond, worker.unmapped.eventsPerSecond),
      rows: [
        {
          label: 'minified, through its map',
          color: COLORS.ours,
          value: worker.mapped.eventsPerSecond,
          text: `${fmt.int(worker.mapped.eventsPerSecond)} events/s`,
          bold: true,
        },
        {
          label: 'same code, no map',
          color: COLORS.ours,
          value: worker.unmapped.eventsPerSecond,
          text: `${fmt.int(worker.unmapped.eventsPerSecond)} events/s`,
        },
      ],
    });
  }
  return list;
}

function legend(y) {
  const items = [
    ['ours', '@calmony/error-tracker'],
    ['sentry', '@sentry/node, @sentry/nextjs'],
    ['none', 'no tracker'],
    ['floor', 'floor'],
  ];
  let x = PAD;
  const out = [];
  for (const [key, label] of items) {
    out.push(rect(x, y - 10, 12, 12, COLORS[key], ' rx="2"'));
    out.push(text(x + 17, y, label, { size: 12 }));
    x += 17 + label.length * 6.6 + 22;
  }
  return out.join('\n');
}

export function renderChart(results) {
  const parts = [];
  let y = PAD;
  parts.push(text(PAD, y + 14, '@calmony/error-tracker beside Sentry’s SDKs', { size: 17, weight: 700 }));
  y += 24;
  parts.push(legend(y + 14));
  y += 26;
  for (const p of panels(results)) {
    if (!p.tight) {
      parts.push(`<line x1="${PAD}" y1="${y + 4}" x2="${WIDTH - PAD}" y2="${y + 4}" stroke="${COLORS.rule}"/>`);
      y += 10;
    }
    const { svg, height } = panel(y, p);
    parts.push(svg);
    y += height;
  }
  const m = results.machine;
  const v = results.versions;
  const footer = [
    `Measured ${results.date.slice(0, 10)} on ${m.cpu}, ${m.cores} cores, ${m.ramGiB} GiB RAM, ${m.platform}`,
    `Node ${v.node} · @calmony/error-tracker ${v.errorTracker} · @sentry/node ${v.sentryNode ?? '–'} · @sentry/nextjs ${v.sentryNextjs ?? '–'} · next ${v.next ?? '–'} · made by npm run bench`,
  ];
  parts.push(`<line x1="${PAD}" y1="${y + 4}" x2="${WIDTH - PAD}" y2="${y + 4}" stroke="${COLORS.rule}"/>`);
  y += 10;
  for (const line of footer) {
    parts.push(text(PAD, y + 14, line, { size: 11, fill: COLORS.muted }));
    y += 16;
  }
  const height = Math.ceil(y + PAD - 4);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="${esc(FONT)}" role="img" aria-label="Benchmarks: @calmony/error-tracker beside @sentry/node and @sentry/nextjs">
<rect width="100%" height="100%" fill="#ffffff"/>
${parts.join('\n')}
</svg>
`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = resolve(import.meta.dirname);
  const results = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8'));
  writeFileSync(join(dir, 'chart.svg'), renderChart(results));
  console.log(`wrote ${join(dir, 'chart.svg')}`);
}
