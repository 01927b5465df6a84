// The two contenders as the preamble of a child program. Each defines the same two functions,
// so a benchmark's body is written once for both:
//   capture(err, context?) -> the event id   (context is sent as the event's `extra`)
//   flush()                -> Promise<boolean>, true when everything was delivered in time
// Both are set up as their READMEs show and otherwise left at their defaults.
import { join, resolve } from 'node:path';
import { runChild } from './child.mjs';
import { startIngest } from './ingest.mjs';

export const root = resolve(import.meta.dirname, '..', '..');

export const CONTENDERS = {
  ours: {
    name: '@calmony/error-tracker',
    prelude: ({ dsn, dataDir, flushMs }) => `
import { createRequire } from 'node:module';
const tracker = createRequire(import.meta.url)(${JSON.stringify(join(root, 'index.js'))});
tracker.init({ dsn: ${JSON.stringify(dsn)}, dataDir: ${JSON.stringify(dataDir)} });
const capture = (err, context) => tracker.trackError(err, context);
const flush = () => tracker.flush(${flushMs});
`,
  },
  sentry: {
    name: '@sentry/node',
    prelude: ({ dsn, flushMs }) => `
import { createRequire } from 'node:module';
const Sentry = createRequire(${JSON.stringify(join(root, 'package.json'))})('@sentry/node');
Sentry.init({ dsn: ${JSON.stringify(dsn)} });
const capture = (err, context) => Sentry.captureException(err, context ? { extra: context } : undefined);
const flush = () => Sentry.flush(${flushMs});
`,
  },
};

/** Keys in the order to run them in round `round`: rotated, so each goes first in turn. */
export const order = (round, keys = Object.keys(CONTENDERS)) => keys.map((_, i) => keys[(i + round) % keys.length]);

/**
 * One contender's program in a fresh child against a fresh ingest, counting only the events
 * that arrive after the child prints `ready` (its warm-up's are forgotten before it is told to
 * go). Resolves with the child's last report and the events the ingest accepted.
 */
export async function runContender(who, { body, label, flushMs }) {
  const ingest = await startIngest();
  const reports = await runChild(
    ({ dataDir }) => CONTENDERS[who].prelude({ dsn: ingest.dsn, dataDir, flushMs }) + body,
    {
      label,
      onLine: (line, child) => {
        // The reset is done before the child goes, so none of the measured events is forgotten.
        if (line === 'ready') ingest.reset().then(() => child.stdin.end('go\n'));
      },
    },
  );
  const delivered = (await ingest.state()).accepted;
  await ingest.close();
  return { report: reports.at(-1), delivered };
}
