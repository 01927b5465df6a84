// The audit report as one self-contained HTML page: inline style and an inline SVG chart, no
// script, no font, no image, nothing fetched, so it can be mailed, archived or opened offline.
// Written for a reader who has never seen the product: every column is explained in words.

const esc = (v) =>
  String(v).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
const KINDS = ['delivered', 'retried', 'failed', 'owed'];
const SINK_NAMES = {
  sentry: 'Sentry (the error tracking service)',
  legacy: 'Legacy endpoint (the older in-house error collector)',
  outbox: 'Outbox file (kept on the server when no service is configured)',
};

/** The report (from `buildReport`) as an HTML page. */
export function html(r) {
  const ok = r.verified;
  const failed = r.sinks.reduce((n, s) => n + r.totals.sinks[s].failed, 0);
  const owed = r.sinks.reduce((n, s) => n + r.totals.sinks[s].owed, 0);
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(r.title)}, ${esc(r.period.since)} to ${esc(r.period.until)}</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; color: #1b1f23; max-width: 72rem; margin: 2rem auto; padding: 0 1rem; }
  h1 { font-size: 1.6rem; margin-bottom: 0.2rem; } h2 { font-size: 1.2rem; margin-top: 2rem; }
  .muted { color: #57606a; }
  .status { padding: 0.8rem 1rem; border-radius: 6px; font-weight: 600; margin: 1rem 0; }
  .ok { background: #dafbe1; border: 1px solid #4ac26b; } .bad { background: #ffebe9; border: 1px solid #ff8182; }
  table { border-collapse: collapse; margin: 0.5rem 0 1rem; }
  th, td { border: 1px solid #d0d7de; padding: 0.3rem 0.6rem; text-align: right; }
  th { background: #f6f8fa; text-align: center; } td:first-child, th:first-child { text-align: left; }
  td.text { text-align: left; } tr.total td { font-weight: 600; background: #f6f8fa; }
  .num { font-size: 1.5rem; font-weight: 600; display: block; }
  .summary { display: flex; gap: 1rem; flex-wrap: wrap; }
  .summary div { border: 1px solid #d0d7de; border-radius: 6px; padding: 0.5rem 1rem; min-width: 9rem; }
  dt { font-weight: 600; } dd { margin: 0 0 0.4rem 1rem; }
  code { font-size: 0.9em; } code.hash { word-break: break-all; font-size: 0.8em; }
</style>
</head>
<body>
<h1>${esc(r.title)}</h1>
<p class="muted">Period: ${esc(r.period.since)} to ${esc(r.period.until)} (whole days, UTC). Generated ${esc(r.generatedAt)}.</p>
<p>When the application fails while serving a request, it records the error and sends it to the
destinations below, where engineers look at it. This report is built from the application's
<em>audit trail</em>: a file per day, kept on each server, with one line each time an error was
recorded, sent again, delivered or refused. It holds no content of the errors (no names, no
search terms), only their identifiers. It shows whether every error in the period reached its
destinations, and whether the trail itself is complete and unaltered.</p>
<div id="verdict" class="status ${ok ? 'ok' : 'bad'}">${
    ok
      ? 'Trail verified: no line was edited, removed or moved, and its files are readable by the application alone.'
      : 'Trail NOT verified: see the servers table for where it breaks. Figures after that point are not proven.'
  }</div>

<div class="summary">
  <div><span class="num">${r.totals.captured}</span>errors captured</div>
  <div><span class="num">${r.totals.deliveredEverywhere}</span>delivered to every destination</div>
  <div><span class="num">${failed}</span>refused by a destination</div>
  <div><span class="num">${owed}</span>still owed</div>
  <div><span class="num">${r.unsettled.length}</span>overdue (owed after ${r.graceMinutes} min)</div>
</div>

<h2>Captured and delivered, per day</h2>
${chart(r)}
<p class="muted">A grey bar taller than its green one: some errors of that day are not yet delivered everywhere, or a destination refused them (see the table).</p>

<h2>Servers</h2>
<p>Each server keeps its own trail; each is checked on its own. Each line of a trail carries a
fingerprint (SHA-256) of the line before it, so removing, reordering or editing any line breaks
the chain at that point. <em>Last fingerprint</em> identifies the trail as it is now: keep it
apart from the servers, and a later trail that verifies and still contains it is unchanged up to here.</p>
<table id="hosts">
<thead><tr><th>Server (data folder)</th><th>Chain</th><th>Lines checked</th><th>Oldest day kept</th><th>Newest day kept</th><th>Retention (policy: ${r.retention.retentionDays} days)</th><th>Last fingerprint</th></tr></thead>
<tbody>
${r.hosts
  .map(
    (h) =>
      `<tr><td class="text">${esc(h.source)}</td><td class="text">${
        h.verified
          ? 'intact'
          : esc(
              [
                h.chain.broken &&
                  `broken at ${h.chain.broken.file} line ${h.chain.broken.line}: ${h.chain.broken.reason}`,
                ...h.chain.problems,
              ]
                .filter(Boolean)
                .join('; '),
            )
      }</td><td>${h.chain.lines}</td><td>${esc(h.oldestDay ?? '-')}</td><td>${esc(h.newestDay ?? '-')}</td><td class="text">${esc(h.retention)}</td><td class="text"><code class="hash">${esc(h.chain.head)}</code></td></tr>`,
  )
  .join('\n')}
</tbody>
</table>

<h2>Per day and destination</h2>
<dl>
  <dt>Captured</dt><dd>Errors the application recorded that day.</dd>
  <dt>Delivered</dt><dd>Errors the destination confirmed receiving that day.</dd>
  <dt>Retried</dt><dd>Errors that had to be sent again because the destination was unreachable or busy. A retry is not a loss: such an error is kept on disk until it is delivered or refused.</dd>
  <dt>Failed</dt><dd>Errors the destination refused for good (the reasons are listed below). They are counted and logged, not sent again.</dd>
  <dt>Owed</dt><dd>Errors recorded that day that the destination has neither received nor refused yet (still waiting to be sent).</dd>
</dl>
${r.sinks.map((s) => `<p class="muted"><strong>${esc(s)}</strong>: ${esc(SINK_NAMES[s] ?? s)}</p>`).join('\n')}
<table id="days">
<thead>
<tr><th rowspan="2">Day (UTC)</th><th rowspan="2">Captured</th>${r.sinks.map((s) => `<th colspan="4">${esc(s)}</th>`).join('')}</tr>
<tr>${r.sinks.map(() => KINDS.map((k) => `<th>${k[0].toUpperCase()}${k.slice(1)}</th>`).join('')).join('')}</tr>
</thead>
<tbody>
${r.days
  .map(
    (d) =>
      `<tr data-day="${esc(d.day)}"><td>${esc(d.day)}</td><td>${d.captured}</td>${r.sinks
        .map((s) => KINDS.map((k) => `<td>${d.sinks[s][k]}</td>`).join(''))
        .join('')}</tr>`,
  )
  .join('\n')}
<tr class="total"><td>Total</td><td>${r.totals.captured}</td>${r.sinks
    .map((s) => KINDS.map((k) => `<td>${r.totals.sinks[s][k]}</td>`).join(''))
    .join('')}</tr>
</tbody>
</table>

<h2>Why errors were refused</h2>
${reasons(r)}

<h2>Overdue: owed after ${r.graceMinutes} minutes</h2>
${
  r.unsettled.length === 0
    ? '<p id="overdue">None. Every error captured in the period more than ' +
      `${r.graceMinutes} minutes before this report was delivered or refused.</p>`
    : `<p>Errors captured more than ${r.graceMinutes} minutes before this report that a destination has neither received nor refused. A server that restarts sends them again.</p>
<table id="overdue"><thead><tr><th>Error id</th><th>Server</th><th>Captured at</th><th>Owed to</th></tr></thead><tbody>
${r.unsettled.map((u) => `<tr><td><code>${esc(u.eventId)}</code></td><td class="text">${esc(u.host)}</td><td class="text">${esc(u.capturedAt)}</td><td class="text">${esc(u.owedTo.join(', '))}</td></tr>`).join('\n')}
</tbody></table>`
}
<p class="muted">Produced by <code>error-tracker audit report</code>. Check the trail yourself with <code>error-tracker audit verify &lt;data folder&gt;</code>.</p>
</body>
</html>
`;
}

function reasons(r) {
  const rows = r.sinks.flatMap((s) => Object.entries(r.totals.sinks[s].reasons).map(([why, n]) => [s, why, n]));
  if (rows.length === 0) return '<p id="reasons">No destination refused an error in the period.</p>';
  return `<p>A refusal is the destination answering that it will not take the error (for example <code>HTTP 400</code>: the destination judged it malformed; <code>HTTP 413</code>: too large).</p>
<table id="reasons"><thead><tr><th>Destination</th><th>Reason</th><th>Errors</th></tr></thead><tbody>
${rows.map(([s, why, n]) => `<tr><td>${esc(s)}</td><td class="text">${esc(why)}</td><td>${n}</td></tr>`).join('\n')}
</tbody></table>`;
}

/** Bars per day: errors captured, and of those, delivered to every destination. */
function chart(r) {
  const days = r.days;
  const max = Math.max(1, ...days.map((d) => d.captured));
  const step = Math.max(28, Math.min(80, 880 / Math.max(1, days.length)));
  const bar = (step - 8) / 2;
  const h = 180;
  const top = 20;
  const left = 48;
  // Wide enough for the legend however few the days.
  const width = Math.max(640, left + step * days.length + 20);
  const y = (v) => top + h - (v / max) * h;
  const every = Math.ceil(days.length / 12);
  const bars = days
    .map((d, i) => {
      const x = left + i * step + 4;
      const label =
        i % every === 0
          ? `<text x="${x + bar}" y="${top + h + 16}" text-anchor="middle" font-size="11">${esc(d.day.slice(5))}</text>`
          : '';
      return `<rect class="bar captured" data-day="${esc(d.day)}" data-value="${d.captured}" x="${x}" y="${y(d.captured)}" width="${bar}" height="${top + h - y(d.captured)}" fill="#8c959f"><title>${esc(d.day)}: ${d.captured} captured</title></rect>
<rect class="bar delivered" data-day="${esc(d.day)}" data-value="${d.deliveredEverywhere}" x="${x + bar}" y="${y(d.deliveredEverywhere)}" width="${bar}" height="${top + h - y(d.deliveredEverywhere)}" fill="#2da44e"><title>${esc(d.day)}: ${d.deliveredEverywhere} delivered to every destination</title></rect>${label}`;
    })
    .join('\n');
  return `<svg id="chart" role="img" aria-label="Errors captured and delivered per day" width="${width}" height="${top + h + 50}" viewBox="0 0 ${width} ${top + h + 50}" xmlns="http://www.w3.org/2000/svg">
<line x1="${left}" y1="${top + h}" x2="${width - 10}" y2="${top + h}" stroke="#57606a"/>
<line x1="${left}" y1="${top}" x2="${left}" y2="${top + h}" stroke="#57606a"/>
<text x="${left - 6}" y="${top + 4}" text-anchor="end" font-size="11">${max}</text>
<text x="${left - 6}" y="${top + h}" text-anchor="end" font-size="11">0</text>
${bars}
<rect x="${left}" y="${top + h + 30}" width="12" height="12" fill="#8c959f"/><text x="${left + 18}" y="${top + h + 40}" font-size="12">captured</text>
<rect x="${left + 100}" y="${top + h + 30}" width="12" height="12" fill="#2da44e"/><text x="${left + 118}" y="${top + h + 40}" font-size="12">delivered to every destination</text>
</svg>`;
}
