// `error-tracker audit verify|report`: the audit trail under `dataDir/audit/` as evidence.
//
// verify: checks the SHA-256 chain of every line and the files' permissions with the addon's
// own verifier (`verifyAuditTrail`, the same code that writes the chain defines it), and names
// the first broken link by file and line. Exit 0 only when intact.
//
// report: reads the lines (JSON; the chain's bytes are left to verify) of one or more hosts'
// audit directories and accounts, per day and per sink, for every error captured in the
// period: delivered, retried, failed (with reasons) or still owed, and lists by event id
// those still owed after a grace period. Each host's chain is verified on its own.
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';

export const USAGE = `usage: error-tracker audit verify [dataDir]
       error-tracker audit report [dataDir …] [--since YYYY-MM-DD] [--until YYYY-MM-DD]
                                  [--format html|md|json] [--out FILE]
                                  [--grace-minutes N] [--retention-days N]

  verify   checks that no line of the audit trail was edited, removed or moved, and that its
           files are readable by their owner alone. Names the first broken line as file:line.
           Exits 0 only when the trail is intact.
  report   accounts for every error captured from --since to --until (UTC days, inclusive;
           default: every day kept), per day and per sink. Several dataDirs (one per host) are
           merged, each host's chain verified on its own. --format json (default), md or html
           (one self-contained page); --out writes to FILE instead of stdout. Errors neither
           delivered nor failed --grace-minutes (default 60) after capture are listed by id.
           --retention-days (default ERROR_TRACKER_AUDIT_RETENTION_DAYS, else 400) is the
           auditRetentionDays the app runs with, to compare the days kept against.

  dataDir defaults to ERROR_TRACKER_DIR, else ./.error-tracker, as the app resolves it; a
  path to the audit folder itself works too.`;

const tracker = () => createRequire(import.meta.url)('../index.js');

/** Runs `audit <args>`; resolves with the exit code. */
export async function audit(args) {
  const [sub, ...rest] = args;
  if (sub === undefined || ['--help', '-h', 'help'].includes(sub)) {
    console.log(USAGE);
    return 0;
  }
  let opts;
  try {
    opts = parseArgs(rest);
  } catch (e) {
    console.error(`error-tracker audit: ${e.message}\n\n${USAGE}`);
    return 2;
  }
  if (sub === 'verify') return verify(opts);
  if (sub === 'report') return report(opts);
  console.error(`error-tracker audit: unknown command \`${sub}\`\n\n${USAGE}`);
  return 2;
}

function parseArgs(args) {
  const opts = { dirs: [], format: 'json', graceMinutes: 60, retentionDays: undefined };
  const flags = new Set(['--since', '--until', '--format', '--out', '--grace-minutes', '--retention-days']);
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const [flag, inline] = arg.startsWith('--') ? arg.split(/=(.*)/s) : [arg];
    if (!flag.startsWith('--')) {
      opts.dirs.push(arg);
      continue;
    }
    if (!flags.has(flag)) throw new Error(`unknown option ${flag}`);
    const value = inline ?? args[++i];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--since' || flag === '--until') {
      // Round-tripped: Date.parse takes 2026-02-30 as 2 March.
      if (!/^\d{4}-\d{2}-\d{2}$/.test(value) || !isDay(value)) {
        throw new Error(`${flag} must be a day as YYYY-MM-DD, got ${JSON.stringify(value)}`);
      }
      opts[flag.slice(2)] = value;
    } else if (flag === '--format') {
      if (!['html', 'md', 'json'].includes(value)) {
        throw new Error(`--format must be html, md or json, got ${JSON.stringify(value)}`);
      }
      opts.format = value;
    } else if (flag === '--out') {
      opts.out = value;
    } else {
      const n = Number(value);
      if (!Number.isInteger(n) || n < (flag === '--grace-minutes' ? 0 : 1)) {
        throw new Error(`${flag} must be a whole number${flag === '--grace-minutes' ? '' : ' above 0'}, got ${value}`);
      }
      opts[flag === '--grace-minutes' ? 'graceMinutes' : 'retentionDays'] = n;
    }
  }
  if (opts.since && opts.until && opts.since > opts.until) throw new Error('--since is after --until');
  if (opts.dirs.length === 0) {
    opts.dirs.push(process.env.ERROR_TRACKER_DIR?.trim() ? process.env.ERROR_TRACKER_DIR : '.error-tracker');
  }
  return opts;
}

/** The audit folder for a dataDir (or an audit folder given as such). */
export function auditDir(dir) {
  const inner = join(resolve(dir), 'audit');
  return existsSync(inner) && statSync(inner).isDirectory() ? inner : resolve(dir);
}

async function verify({ dirs }) {
  let intact = true;
  for (const dir of dirs) {
    const where = auditDir(dir);
    const v = await tracker().verifyAuditTrail(where);
    intact &&= v.intact;
    console.log(`audit trail: ${where}`);
    const span = v.oldestDay ? `, ${v.oldestDay} to ${v.newestDay}` : '';
    const from = v.anchor ? `from anchor.json (end of ${v.anchor.day}, deleted by retention)` : 'from its first line';
    if (v.broken) {
      console.log(`  ✗ ${join(where, v.broken.file)}:${v.broken.line}: ${v.broken.reason}`);
      console.log(`    ${v.lines} lines before it verified ${from}; nothing after it is proven`);
    } else {
      console.log(`  ✓ chain intact ${from}: ${v.files} file${v.files === 1 ? '' : 's'}, ${v.lines} lines${span}`);
    }
    for (const p of v.problems) console.log(`  ✗ ${p}`);
    console.log(`  head ${v.head}`);
  }
  console.log(intact ? 'intact' : 'NOT intact');
  return intact ? 0 : 1;
}

async function report(opts) {
  const data = await buildReport(opts);
  let text;
  if (opts.format === 'json') text = `${JSON.stringify(data, null, 2)}\n`;
  else if (opts.format === 'md') text = markdown(data);
  else text = (await import('./report-html.mjs')).html(data);
  if (opts.out) {
    writeFileSync(opts.out, text);
    console.log(`wrote ${resolve(opts.out)}`);
  } else {
    process.stdout.write(text);
  }
  return 0;
}

const DAY_MS = 86_400_000;
const isDay = (s) =>
  !Number.isNaN(Date.parse(`${s}T00:00:00Z`)) && new Date(`${s}T00:00:00Z`).toISOString().startsWith(s);
const dayOf = (ts) => ts.slice(0, 10);

/**
 * The report's data: what `--format json` prints, and what the md and html forms render.
 * `now` (ms) is when the report is made: the grace period is counted back from it.
 */
export async function buildReport({ dirs, since, until, graceMinutes = 60, retentionDays, now = Date.now() }) {
  retentionDays ??= Number(process.env.ERROR_TRACKER_AUDIT_RETENTION_DAYS) || 400;
  const hosts = [];
  const events = [];
  const transitions = []; // { day, sink, action, reason }
  for (const dir of dirs) {
    const where = auditDir(dir);
    const chain = await tracker().verifyAuditTrail(where);
    const host = { source: dir, auditDir: where, chain, unreadableLines: 0 };
    hosts.push(host);
    const byId = new Map();
    const seen = new Set();
    const files = existsSync(where)
      ? readdirSync(where).filter((f) => /^audit-\d{4}-\d{2}-\d{2}\.ndjson$/.test(f))
      : [];
    for (const file of files.sort()) {
      for (const text of readFileSync(join(where, file), 'utf8').split('\n')) {
        if (!text) continue;
        let line;
        try {
          line = JSON.parse(text);
        } catch {
          host.unreadableLines += 1;
          continue;
        }
        if (typeof line.ts !== 'string' || typeof line.eventId !== 'string') {
          host.unreadableLines += 1;
          continue;
        }
        let e = byId.get(line.eventId);
        if (!e) byId.set(line.eventId, (e = { eventId: line.eventId, host: dir, sinks: {} }));
        if (line.action === 'captured') {
          e.capturedAt = line.ts;
          e.owedTo = line.sinks ?? [];
          for (const sink of e.owedTo) e.sinks[sink] ??= { status: 'owed' };
        } else if (line.sink) {
          const s = (e.sinks[line.sink] ??= { status: 'owed' });
          if (line.action === 'retry') s.retried = true;
          if (line.action === 'delivered') s.status = 'delivered';
          if (line.action === 'failed') Object.assign(s, { status: 'failed', reason: line.reason ?? '' });
          // Once per event, sink and outcome: a restart retries again, and a crash between a
          // sink's answer and its acknowledgement delivers twice (at least once).
          const key = `${line.eventId} ${line.sink} ${line.action}`;
          if (!seen.has(key)) {
            seen.add(key);
            transitions.push({ day: dayOf(line.ts), sink: line.sink, action: line.action, reason: line.reason });
          }
        }
      }
    }
    for (const e of byId.values()) if (e.capturedAt) events.push(e);
  }

  const kept = hosts
    .flatMap((h) => [h.chain.oldestDay, h.chain.newestDay])
    .filter(Boolean)
    .sort();
  since ??= kept[0] ?? dayOf(new Date(now).toISOString());
  until ??= [kept.at(-1), dayOf(new Date(now).toISOString())].filter(Boolean).sort().at(-1);
  const inPeriod = (day) => day >= since && day <= until;
  const period = events.filter((e) => inPeriod(dayOf(e.capturedAt)));
  const sinks = [
    ...new Set([...period.flatMap((e) => Object.keys(e.sinks)), ...transitions.map((t) => t.sink)]),
  ].sort();

  const days = new Map();
  const dayRow = (day) => {
    if (!days.has(day)) {
      days.set(day, {
        day,
        captured: 0,
        settled: 0,
        sinks: Object.fromEntries(sinks.map((s) => [s, { delivered: 0, retried: 0, failed: 0, owed: 0, reasons: {} }])),
      });
    }
    return days.get(day);
  };
  for (let d = Date.parse(`${since}T00:00:00Z`); d <= Date.parse(`${until}T00:00:00Z`); d += DAY_MS) {
    dayRow(dayOf(new Date(d).toISOString()));
  }
  for (const t of transitions.filter((t) => inPeriod(t.day))) {
    const cell = dayRow(t.day).sinks[t.sink];
    if (t.action === 'delivered') cell.delivered += 1;
    if (t.action === 'retry') cell.retried += 1;
    if (t.action === 'failed') {
      cell.failed += 1;
      cell.reasons[t.reason || '(no reason)'] = (cell.reasons[t.reason || '(no reason)'] ?? 0) + 1;
    }
  }
  const graceEnd = now - graceMinutes * 60_000;
  const unsettled = [];
  for (const e of period) {
    const row = dayRow(dayOf(e.capturedAt));
    row.captured += 1;
    const owed = Object.keys(e.sinks).filter((s) => e.sinks[s].status === 'owed');
    for (const s of owed) row.sinks[s].owed += 1;
    e.outcome = owed.length
      ? 'owed'
      : Object.values(e.sinks).some((s) => s.status === 'failed')
        ? 'failed'
        : 'delivered';
    if (e.outcome === 'delivered') row.settled += 1;
    if (owed.length && Date.parse(e.capturedAt) < graceEnd) {
      unsettled.push({ eventId: e.eventId, host: e.host, capturedAt: e.capturedAt, owedTo: owed });
    }
  }
  const totals = { captured: 0, deliveredEverywhere: 0, sinks: {} };
  for (const row of days.values()) {
    totals.captured += row.captured;
    totals.deliveredEverywhere += row.settled;
    for (const s of sinks) {
      const t = (totals.sinks[s] ??= { delivered: 0, retried: 0, failed: 0, owed: 0, reasons: {} });
      for (const k of ['delivered', 'retried', 'failed', 'owed']) t[k] += row.sinks[s][k];
      for (const [r, n] of Object.entries(row.sinks[s].reasons)) t.reasons[r] = (t.reasons[r] ?? 0) + n;
    }
  }
  const today = dayOf(new Date(now).toISOString());
  const cutoff = dayOf(new Date(Date.parse(`${today}T00:00:00Z`) - retentionDays * DAY_MS).toISOString());
  return {
    title: 'Error tracking audit report',
    generatedAt: new Date(now).toISOString(),
    period: { since, until },
    graceMinutes,
    verified: hosts.every((h) => h.chain.intact),
    retention: { retentionDays, cutoff },
    hosts: hosts.map(({ source, auditDir, chain, unreadableLines }) => ({
      source,
      auditDir,
      verified: chain.intact,
      chain,
      unreadableLines,
      oldestDay: chain.oldestDay,
      newestDay: chain.newestDay,
      retention: retentionStatus(chain, cutoff),
    })),
    sinks,
    totals,
    days: [...days.values()]
      .sort((a, b) => a.day.localeCompare(b.day))
      .map(({ settled, ...row }) => ({ ...row, deliveredEverywhere: settled })),
    unsettled,
    events: period
      .sort((a, b) => a.capturedAt.localeCompare(b.capturedAt))
      .map((e) => ({ eventId: e.eventId, host: e.host, capturedAt: e.capturedAt, outcome: e.outcome, sinks: e.sinks })),
  };
}

/** The days kept against the retention policy, in words. */
function retentionStatus(chain, cutoff) {
  if (!chain.oldestDay) return 'no days kept';
  if (chain.oldestDay < cutoff) {
    return `days before ${cutoff} are still kept: the next day's first write deletes them`;
  }
  if (chain.anchor) {
    return `as configured: days up to ${chain.anchor.day} deleted by retention, their end recorded in anchor.json`;
  }
  return `nothing deleted yet: the trail begins on ${chain.oldestDay}, its first day`;
}

const COLUMNS = [
  ['captured', 'errors the application reported that day'],
  ['delivered', 'errors this destination confirmed receiving that day'],
  ['retried', 'errors that had to be sent again (the destination was down or busy); not a loss'],
  ['failed', 'errors this destination refused for good (reason given); counted, logged, not resent'],
  ['owed', 'errors captured that day this destination has neither received nor refused yet'],
];

/** The report as Markdown. */
export function markdown(r) {
  const out = [];
  const row = (cells) => out.push(`| ${cells.join(' | ')} |`);
  out.push(`# ${r.title}`, '');
  out.push(`Period ${r.period.since} to ${r.period.until} (UTC days), generated ${r.generatedAt}.`, '');
  out.push(`**Chain verified: ${r.verified ? 'yes' : 'NO'}.**`, '');
  row([
    'host (data directory)',
    'chain',
    'lines',
    'oldest day',
    'newest day',
    `retention (${r.retention.retentionDays} days)`,
    'last hash',
  ]);
  row(['---', '---', '---:', '---', '---', '---', '---']);
  for (const h of r.hosts) {
    const chain = h.verified
      ? 'intact'
      : [
          h.chain.broken && `broken at ${h.chain.broken.file}:${h.chain.broken.line}: ${h.chain.broken.reason}`,
          ...h.chain.problems,
        ]
          .filter(Boolean)
          .join('; ');
    row([h.source, chain, h.chain.lines, h.oldestDay ?? '-', h.newestDay ?? '-', h.retention, `\`${h.chain.head}\``]);
  }
  out.push('', `## Per day and destination`, '');
  for (const [name, meaning] of COLUMNS) out.push(`- **${name}**: ${meaning}`);
  out.push('');
  row(['day', 'captured', ...r.sinks.flatMap((s) => [`${s} delivered`, `${s} retried`, `${s} failed`, `${s} owed`])]);
  row(['---', '---:', ...r.sinks.flatMap(() => ['---:', '---:', '---:', '---:'])]);
  for (const d of r.days) {
    row([
      d.day,
      d.captured,
      ...r.sinks.flatMap((s) => ['delivered', 'retried', 'failed', 'owed'].map((k) => d.sinks[s][k])),
    ]);
  }
  row([
    '**total**',
    r.totals.captured,
    ...r.sinks.flatMap((s) => ['delivered', 'retried', 'failed', 'owed'].map((k) => r.totals.sinks[s][k])),
  ]);
  const reasons = r.sinks.flatMap((s) =>
    Object.entries(r.totals.sinks[s].reasons).map(([why, n]) => `- ${s}: ${n} × ${why}`),
  );
  out.push('', '## Why errors failed', '', ...(reasons.length ? reasons : ['None failed.']));
  out.push('', `## Still owed after ${r.graceMinutes} minutes`, '');
  if (r.unsettled.length === 0) out.push('None: every error captured in the period was delivered or refused.');
  for (const u of r.unsettled)
    out.push(`- \`${u.eventId}\` captured ${u.capturedAt} on ${u.host}, owed to ${u.owedTo.join(', ')}`);
  return `${out.join('\n')}\n`;
}
