// A tiny stand-in for the screening service: it configures the tracker the way the README
// shows, hits a few realistic failures, and reports each through trackError.
import { createRequire } from 'node:module';

const { init, trackError, close, stats } = createRequire(import.meta.url)('../index.js');

init({ release: 'screening-demo@1.0.0', environment: 'demo', dataDir: process.env.DEMO_DATA_DIR });

class SanctionsListUnavailable extends Error {}
class ScreeningInputError extends Error {
  constructor(message, field) {
    super(message);
    this.name = 'ScreeningInputError';
    this.field = field;
  }
}

function fetchOfsiList(version) {
  const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  throw new SanctionsListUnavailable(`OFSI consolidated list v${version} could not be downloaded`, { cause: reset });
}

function validateRequest(body) {
  if (!body.dateOfBirth) throw new ScreeningInputError('dateOfBirth is required', 'dateOfBirth');
}

function scoreMatches(candidates) {
  return candidates.map((c) => c.aliases.length); // one candidate has no aliases
}

async function screenBatch(batch) {
  const results = await Promise.allSettled(
    batch.map(async (id) => {
      if (id % 2) throw new RangeError(`screening ${id} timed out after 3000 ms`);
      return id;
    }),
  );
  const failures = results.filter((r) => r.status === 'rejected').map((r) => r.reason);
  if (failures.length) throw new AggregateError(failures, `${failures.length} screenings in batch failed`);
}

const request = {
  url: 'http://localhost:3000/api/screen',
  method: 'POST',
  headers: { 'content-type': 'application/json' },
};
const scope = { tags: { route: '/api/screen' }, user: { id: 'analyst-17' }, request };

const attempts = [
  () => fetchOfsiList(2026.11),
  () => validateRequest({ name: 'A. Person' }),
  () => scoreMatches([{ aliases: ['x'] }, {}]),
  () => {
    throw 'list checksum mismatch';
  }, // code that throws a string
];
for (const attempt of attempts) {
  try {
    attempt();
  } catch (err) {
    trackError(err, { listVersion: '2026.11', step: attempt.toString().slice(6, 40) }, scope);
  }
}
// Screening errors carry personal data; the scrubber removes it before anything is sent.
try {
  const subject = { name: 'Jane Roe', dob: '1984-03-09', email: 'jane.roe@example.org' };
  throw new ScreeningInputError(
    `No sanctions match could be confirmed for ${subject.name} born ${subject.dob} (NI QQ 12 34 56 C)`,
    'subject',
  );
} catch (err) {
  trackError(
    err,
    { subject: { name: 'Jane Roe', dob: '1984-03-09', email: 'jane.roe@example.org' }, listVersion: '2026.11' },
    scope,
  );
}
try {
  await screenBatch([1, 2, 3, 4]);
} catch (err) {
  trackError(err, { batchSize: 4 }, { ...scope, level: 'warning' });
}

const delivered = await close(15000);
console.log(JSON.stringify({ delivered, stats: stats() }));
