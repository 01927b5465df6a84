// Property-style scrubbing test: for ~200 seeded random trials, build random nested structures
// (objects and arrays up to the capture's depth limit) in context, error own properties, a
// cause's properties, the request body, breadcrumb data or the user; plant unique personal
// values under sensitive keys (random case and separators) at random positions; echo some of
// them into the message, a cause's message, tags, breadcrumbs and harmless-keyed strings. Then
// prove that no planted value reaches either sink (raw bodies and decoded strings) or dataDir,
// and that every harmless `keep…` value still arrives.
//
// Reproduce one trial: SCRUB_SEED=<seed> SCRUB_ITERATIONS=1 node --test __test__/scrub-property.test.mjs
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import {
  describeLeaks,
  fileSources,
  filesUnder,
  findLeaks,
  missing,
  scrubOptions,
} from './fixtures/screening-corpus.mjs';
import { assertNormalized, closeNormalizer } from './support/normalize.mjs';
import { startReceiver } from './support/receiver.mjs';

const tracker = createRequire(import.meta.url)('../index.js');

const BASE_SEED = Number(process.env.SCRUB_SEED ?? 20241118);
const ITERATIONS = Number(process.env.SCRUB_ITERATIONS ?? 200);
/** The capture copies containers at levels 0..7 below its root; deeper ones become "[Object]". */
const DEEPEST = 7;

/** mulberry32: a tiny seeded PRNG, so every trial is reproducible from its seed. */
function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Keys that no scrubbing rule should touch.
const HARMLESS_KEYS = [
  'a',
  'b',
  'items',
  'meta',
  'payload',
  'entries',
  'result',
  'detail',
  'step',
  'info',
  'list',
  'attrs',
  'rows',
  'data',
];

const pad = (n, w = 2) => String(n).padStart(w, '0');

function luhnComplete(payload) {
  let sum = 0;
  let double = true; // the digit left of the check digit is doubled
  for (let i = payload.length - 1; i >= 0; i -= 1) {
    let d = Number(payload[i]);
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return payload + String((10 - (sum % 10)) % 10);
}

/**
 * Sensitive categories: key spellings, and a generator returning
 * { value, planted: [...], echoes: [...], pattern? } (echoes: forms of the value to repeat
 * elsewhere; pattern: a value pattern catches it even without its key).
 */
const CATEGORIES = {
  fullName: {
    keys: ['fullName', 'full_name', 'Full-Name', 'NAME', 'name'],
    make: (g) => {
      const given = `Plantgiven${g.seed}g${g.n()}`;
      const family = `Plantfamily${g.seed}f${g.n()}`;
      return {
        value: `${given} ${family}`,
        planted: [given, family],
        echoes: [`${given} ${family}`, given, family.toUpperCase()],
      };
    },
  },
  firstName: {
    keys: ['firstName', 'first_name', 'FIRST-NAME', 'forename'],
    make: (g) => {
      const v = `Plantfirst${g.seed}a${g.n()}`;
      return { value: v, planted: [v], echoes: [v] };
    },
  },
  lastName: {
    keys: ['lastName', 'last_name', 'Surname', 'SURNAME'],
    make: (g) => {
      const v = `Plantlast${g.seed}b${g.n()}`;
      return { value: v, planted: [v], echoes: [v, v.toLowerCase()] };
    },
  },
  dob: {
    keys: ['dob', 'DOB', 'dateOfBirth', 'date_of_birth', 'Date-Of-Birth', 'birth-date', 'birthDate'],
    make: (g) => {
      const v = `${g.int(1940, 2005)}-${pad(g.int(1, 12))}-${pad(g.int(1, 28))}`;
      return { value: v, planted: [v], echoes: [v] };
    },
  },
  email: {
    keys: ['email', 'EMAIL', 'e-mail', 'Email'],
    make: (g) => {
      const v = `plant.${g.seed}.${g.n()}@example.org`;
      return { value: v, planted: [v], echoes: [v], pattern: true };
    },
  },
  phone: {
    keys: ['phone', 'phoneNumber', 'mobile', 'PHONE_NUMBER'],
    make: (g) => {
      const digits = String(g.int(10000, 99999));
      const v = g.chance(0.5) ? `+44 7700 9${digits}` : `07700 9${digits}`;
      return { value: v, planted: [v, `7700 9${digits}`], echoes: [v], pattern: v.startsWith('+') };
    },
  },
  nino: {
    keys: ['nino', 'NINO', 'niNumber', 'ni_number', 'nationalInsuranceNumber', 'national-insurance-number'],
    make: (g) => {
      let prefix;
      do prefix = g.pick([...'ABCEGHJKLMNOPRSTWXYZ']) + g.pick([...'ABCEGHJKLMNPRSTWXYZ']);
      while (['BG', 'GB', 'KN', 'NK', 'NT', 'TN', 'ZZ'].includes(prefix));
      const d = [g.int(10, 99), g.int(10, 99), g.int(10, 99)];
      const suffix = g.pick([...'ABCD']);
      const v = g.chance(0.5) ? `${prefix} ${d.join(' ')} ${suffix}` : `${prefix}${d.join('')}${suffix}`;
      return { value: v, planted: [v], echoes: [v], pattern: true };
    },
  },
  passport: {
    keys: ['passportNumber', 'passport_number', 'PASSPORT-NUMBER'],
    make: (g) => {
      const n = g.int(100_000_000, 999_999_999);
      return { value: g.chance(0.3) ? n : String(n), planted: [String(n)], echoes: [String(n)] };
    },
  },
  card: {
    keys: ['cardNumber', 'card_number', 'CARD-NUMBER'],
    make: (g) => {
      let payload = '4';
      for (let i = 0; i < 14; i += 1) payload += String(g.int(0, 9));
      const compact = luhnComplete(payload);
      const sep = g.pick([' ', '-', '']);
      const v = compact.match(/.{4}/g).join(sep);
      return { value: v, planted: [v, compact], echoes: [v], pattern: true };
    },
  },
  ip: {
    keys: ['ip', 'ipAddress', 'ip_address', 'IP-ADDRESS'],
    make: (g) => {
      const v = [0, 0, 0, 0].map(() => g.int(100, 223)).join('.');
      return { value: v, planted: [v], echoes: [v], pattern: true };
    },
  },
  postcode: {
    keys: ['postcode', 'postCode', 'post_code', 'POSTCODE'],
    make: (g) => {
      const v =
        `${g.pick(['SW1A', 'EC2V', 'LS1', 'M4', 'B33', 'BT9', 'EH3', 'CF10', 'G2', 'NE1'])} ${g.int(0, 9)}` +
        `${g.pick([...'ABDEFGHJLNPQRSTUWXYZ'])}${g.pick([...'ABDEFGHJLNPQRSTUWXYZ'])}`;
      return { value: v, planted: [v], echoes: [v], pattern: true };
    },
  },
  password: {
    keys: ['password', 'pass_word', 'PASSWORD', 'Password'],
    make: (g) => {
      const v = `Pw${g.seed}q${g.n()}!Zz${g.hex(4)}`;
      return { value: v, planted: [v], echoes: [v] };
    },
  },
  apiKey: {
    keys: ['apiKey', 'api_key', 'API-KEY', 'x-api-key'],
    make: (g) => {
      const v = `ak${g.seed}q${g.hex(12)}`;
      return { value: v, planted: [v], echoes: [v] };
    },
  },
  token: {
    keys: ['token', 'accessToken', 'access_token', 'secret', 'clientSecret', 'client_secret'],
    make: (g) => {
      const v = `tk${g.seed}x${g.hex(16)}`;
      return { value: v, planted: [v], echoes: [v] };
    },
  },
  customerRef: {
    keys: ['customerRef', 'customer_ref', 'CUSTOMER-REF'],
    make: (g) => {
      const v = `CR-${g.seed}-${g.n()}Q`;
      return { value: v, planted: [v], echoes: [v] };
    },
  },
  address: {
    keys: ['address', 'Address', 'ADDRESS'],
    make: (g) => {
      const street = `${g.int(1, 250)} Plantstreet${g.seed}s${g.n()} Road`;
      const city = `Plantcity${g.seed}c${g.n()}`;
      // A comma-separated address taints each part; an address object is removed whole.
      return g.chance(0.5)
        ? { value: `${street}, ${city}`, planted: [street, city], echoes: [city] }
        : { value: { line1: street, city }, planted: [street, city], echoes: [], container: true };
    },
  },
};
const CATEGORY_NAMES = Object.keys(CATEGORIES);

/**
 * Where a random tree can go: the level its root sits at below the captured root (the capture's
 * depth limit counts from there) and which sinks carry it.
 */
const TARGETS = {
  context: { rootLevel: 0, sinks: 'both' }, // trackError's context → extra / legacy context
  errorProps: { rootLevel: 1, sinks: 'sentry' }, // err.payload → contexts[<type>]
  causeProps: { rootLevel: 1, sinks: 'sentry' }, // err.cause.payload → contexts of the cause
  requestData: { rootLevel: 2, sinks: 'sentry' }, // scope.request.data (an object, sent as a JSON string)
  breadcrumbData: { rootLevel: 3, sinks: 'sentry' }, // scope.breadcrumbs[0].data
  userProfile: { rootLevel: 2, sinks: 'both' }, // scope.user.profile
};

/** Builds one trial from its seed: the arguments for trackError and what must (not) arrive. */
function makeTrial(seed) {
  const rng = mulberry32(seed);
  let counter = 0;
  const g = {
    seed,
    n: () => counter++,
    chance: (p) => rng() < p,
    int: (lo, hi) => lo + Math.floor(rng() * (hi - lo + 1)),
    pick: (xs) => xs[Math.floor(rng() * xs.length)],
    hex: (len) => Array.from({ length: len }, () => Math.floor(rng() * 16).toString(16)).join(''),
  };
  const planted = new Set();
  const keeps = { both: [], sentry: [] };
  const containers = []; // { node, level, sinks }
  const echoable = []; // forms of planted values that may be repeated elsewhere

  const keep = (sinks) => {
    const k = `keep${seed}k${g.n()}z`;
    keeps[sinks].push(k);
    return k;
  };
  const harmlessKey = (obj) => {
    const base = g.pick(HARMLESS_KEYS);
    let key = base;
    for (let i = 2; key in obj; i += 1) key = `${base}${i}`;
    return key;
  };
  const harmlessLeaf = (sinks) => {
    const r = rng();
    if (r < 0.55) return keep(sinks);
    if (r < 0.8) return g.int(0, 999_999);
    if (r < 0.9) return g.chance(0.5);
    return null;
  };

  /** A random harmless tree whose root container sits at `level`; a spine reaches `deepest`. */
  function skeleton(level, deepest, sinks, spine, isRoot = false) {
    const node = !isRoot && g.chance(0.3) ? [] : {};
    containers.push({ node, level, sinks });
    const width = g.int(1, 3);
    for (let i = 0; i < width; i += 1) {
      // The spine always descends; other branches sometimes, while the trial stays small
      // (the capture's node budget must not cut it).
      const child =
        level < deepest && ((spine && i === 0) || (containers.length < 60 && g.chance(0.45)))
          ? skeleton(level + 1, deepest, sinks, spine && i === 0)
          : harmlessLeaf(sinks);
      if (Array.isArray(node)) node.push(child);
      else node[harmlessKey(node)] = child;
    }
    return node;
  }

  /** Plants one sensitive value somewhere in the trees built so far. */
  function plantOne() {
    const category = CATEGORIES[g.pick(CATEGORY_NAMES)];
    const key = g.pick(category.keys);
    const made = category.make(g);
    // Shapes that add a container need room for it below the depth limit.
    const shape = made.container ? 'object' : g.pick(['leaf', 'leaf', 'leaf', 'array', 'wrapped']);
    const needs = made.container || shape !== 'leaf' ? 1 : 0;
    const candidates = containers.filter((c) => c.level + needs + (Array.isArray(c.node) ? 1 : 0) <= DEEPEST);
    if (!candidates.length) return;
    const target = g.pick(candidates);
    let value = made.value;
    let extraPlanted = [];
    if (shape === 'array') {
      const second = category.make(g);
      if (second.container) return;
      value = [made.value, second.value];
      extraPlanted = second.planted;
    } else if (shape === 'wrapped') {
      // A harmless-looking object under a sensitive key: all of it goes, keep… included.
      value = { value: made.value, note: `keep-under-sensitive-${seed}-${g.n()}` };
    }
    if (Array.isArray(target.node)) target.node.push({ [key]: value });
    else if (key in target.node) return;
    else target.node[key] = value;
    for (const p of [...made.planted, ...extraPlanted]) planted.add(p);
    // A value placed directly under the key is tainted; inside an array or object under it,
    // only values a pattern catches anyway are echoed.
    if (shape === 'leaf' || made.pattern) echoable.push(...made.echoes);
  }

  // The main tree always goes to context; sometimes a second one elsewhere.
  const context = skeleton(0, g.int(1, DEEPEST), 'both', true, true);
  const second = g.pick(['none', 'errorProps', 'causeProps', 'requestData', 'breadcrumbData', 'userProfile']);
  let secondTree;
  if (second !== 'none') {
    const { rootLevel, sinks } = TARGETS[second];
    secondTree = skeleton(rootLevel, g.int(rootLevel, DEEPEST), sinks, true, true);
  }
  const plants = g.int(3, 8);
  for (let i = 0; i < plants; i += 1) plantOne();

  // The user id is kept only as an HMAC; the raw id is tainted, so it may be echoed too.
  let user;
  if (second === 'userProfile') {
    const rawId = `PlantUid${seed}u`;
    planted.add(rawId);
    echoable.push(rawId);
    user = { id: rawId, segment: keep('both'), profile: secondTree };
  }

  // Echo some key-planted values into free text: the message, a cause, tags, breadcrumbs and
  // harmless-keyed strings. Each sits next to a keep… value that must survive.
  const messageParts = [`Screening ${keep('both')} failed`];
  const tags = { stage: keep('sentry') };
  const crumbs = [];
  let causeMessage;
  const echoes = Math.min(echoable.length, g.int(1, 4));
  for (let i = 0; i < echoes; i += 1) {
    const echo = g.pick(echoable);
    const where = g.pick(['message', 'message', 'leaf', 'leaf', 'tag', 'breadcrumb', 'cause']);
    if (where === 'message') messageParts.push(`near ${echo}`);
    else if (where === 'tag') tags[`note${i}`] = `${keep('sentry')} ${echo}`;
    else if (where === 'breadcrumb') crumbs.push({ category: 'trial', message: `${keep('sentry')} saw ${echo}` });
    else if (where === 'cause') causeMessage = `${causeMessage ?? `upstream ${keep('sentry')} said`} ${echo}`;
    else {
      const objects = containers.filter((c) => !Array.isArray(c.node));
      const c = g.pick(objects);
      c.node[harmlessKey(c.node)] = `${keep(c.sinks)} noted ${echo} here`;
    }
  }

  const ctor = g.pick([Error, TypeError, RangeError]);
  if (second === 'causeProps') causeMessage ??= `upstream ${keep('sentry')} refused`;
  let cause;
  if (causeMessage !== undefined) {
    cause = new Error(causeMessage);
    if (second === 'causeProps') cause.payload = secondTree;
  }
  const message = messageParts.join(' ');
  const error = cause ? new ctor(message, { cause }) : new ctor(message);
  if (second === 'errorProps') error.payload = secondTree;

  const scope = {};
  if (Object.keys(tags).length) scope.tags = tags;
  if (second === 'requestData')
    scope.request = { method: 'POST', url: 'https://screening.example.com/api/v2/screen', data: secondTree };
  if (second === 'breadcrumbData') crumbs.unshift({ category: 'trial', message: 'payload', data: secondTree });
  if (crumbs.length) scope.breadcrumbs = crumbs;
  if (user) scope.user = user;

  return {
    seed,
    error,
    context,
    scope,
    planted: [...planted],
    keeps,
    /** The inputs, for a failure report. */
    describe: () =>
      JSON.stringify(
        {
          seed,
          error: {
            type: ctor.name,
            message,
            payload: error.payload,
            cause: cause && { message: cause.message, payload: cause.payload },
          },
          context,
          scope,
        },
        null,
        1,
      ),
  };
}

// ---------------------------------------------------------------------------------------

let rx;
let dataDir;

before(async () => {
  rx = await startReceiver();
  dataDir = mkdtempSync(join(tmpdir(), 'error-tracker-scrub-prop-'));
  tracker.init({
    dsn: rx.dsn,
    legacyEndpoint: rx.legacyUrl,
    dataDir,
    legacyMaxRequestsPerMinute: 10_000,
    ...scrubOptions,
  });
});

after(async () => {
  await tracker.close(10_000);
  await rx?.close();
  await closeNormalizer();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test(`random nesting never leaks a planted value, and harmless values survive (${ITERATIONS} trials from seed ${BASE_SEED})`, async () => {
  const trials = [];
  for (let i = 0; i < ITERATIONS; i += 1) {
    const trial = makeTrial(BASE_SEED + i);
    assert.doesNotThrow(() => {
      trial.id = tracker.trackError(trial.error, trial.context, trial.scope);
    }, `seed ${trial.seed}: trackError threw`);
    assert.match(trial.id, /^[0-9a-f]{32}$/);
    trials.push(trial);
  }
  assert.equal(await tracker.flush(60_000), true, 'flush resolves true');
  assert.deepEqual(rx.problems, []);

  const failures = [];
  for (const trial of trials) {
    const envelope = rx.envelopes.find((e) =>
      e.items.some((i) => i.header.type === 'event' && i.json?.event_id === trial.id),
    );
    const legacy = rx.legacyErrors.find((e) => e.eventId === trial.id);
    if (!envelope || !legacy) {
      failures.push({ trial, problems: [`not delivered (sentry: ${!!envelope}, legacy: ${!!legacy})`] });
      continue;
    }
    const event = envelope.items.find((i) => i.header.type === 'event').json;
    const leaks = findLeaks(trial.planted, [
      { where: 'Sentry envelope', raw: envelope.raw },
      { where: 'Sentry event', json: event },
      { where: 'legacy item', json: legacy },
    ]);
    const problems = [];
    if (leaks.length) problems.push(`leaked:\n${describeLeaks(leaks)}`);
    const lostSentry = missing([...trial.keeps.both, ...trial.keeps.sentry], event);
    if (lostSentry.length) problems.push(`harmless values missing from the Sentry event: ${lostSentry.join(', ')}`);
    const lostLegacy = missing(trial.keeps.both, legacy);
    if (lostLegacy.length) problems.push(`harmless values missing from the legacy item: ${lostLegacy.join(', ')}`);
    if (problems.length) failures.push({ trial, problems, event, legacy });
  }

  // The legacy endpoint gets batches, so its raw bodies are checked for every trial's values at
  // once; a hit names the trial the value was planted in.
  const plantedBy = new Map();
  for (const t of trials) for (const p of t.planted) plantedBy.set(p, [...(plantedBy.get(p) ?? []), t.seed]);
  const rawLeaks = findLeaks(
    [...plantedBy.keys()],
    [
      ...rx.legacyRequests.map((r, i) => ({ where: `legacy request #${i}`, raw: r.raw })),
      ...fileSources(filesUnder(dataDir)),
    ],
  );

  if (failures.length || rawLeaks.length) {
    const shown = failures.slice(0, 3).map(({ trial, problems, event, legacy }) =>
      [
        `--- seed ${trial.seed} (reproduce: SCRUB_SEED=${trial.seed} SCRUB_ITERATIONS=1 node --test __test__/scrub-property.test.mjs)`,
        ...problems,
        `input: ${trial.describe()}`,
        event
          ? `Sentry event extra/contexts/request/user/tags/breadcrumbs: ${JSON.stringify(
              {
                exception: event.exception?.values?.map((v) => v.value),
                extra: event.extra,
                contexts: event.contexts,
                request: event.request,
                user: event.user,
                tags: event.tags,
                breadcrumbs: event.breadcrumbs,
              },
              null,
              1,
            )}`
          : '',
        legacy
          ? `legacy item: ${JSON.stringify({ message: legacy.message, stack: legacy.stack?.split('\n')[0], context: legacy.context, user: legacy.user }, null, 1)}`
          : '',
      ].join('\n'),
    );
    assert.fail(
      [
        `${failures.length} of ${trials.length} trials failed (seeds ${failures.map((f) => f.trial.seed).join(', ')})`,
        rawLeaks.length
          ? `raw legacy bodies / dataDir files leaked:\n${describeLeaks(rawLeaks.map((l) => ({ ...l, where: `${l.where} [planted by seed ${plantedBy.get(l.value)}]` })))}`
          : '',
        ...shown,
      ]
        .filter(Boolean)
        .join('\n\n'),
    );
  }

  await assertNormalized(rx.events);
});
