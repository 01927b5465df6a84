// Envelopes as Sentry's browser SDK posts them to a tunnel, for the tunnel's tests and benchmark.
import { randomUUID } from 'node:crypto';

// The subject the screening form holds: none of this may leave the process or land on disk.
export const PLANTED = {
  name: 'Adaeze Okonkwo-Whitfield',
  dob: '1984-03-17',
  ni: 'QQ 12 34 56 C',
  email: 'adaeze.ow@example.com',
  card: '4539 1488 0343 6467',
};
export const PLANTED_TEXTS = [
  'Adaeze',
  'Okonkwo',
  'Whitfield',
  PLANTED.dob,
  PLANTED.ni,
  'QQ123456C',
  PLANTED.email,
  PLANTED.card,
  '4539148803436467',
];

export const newId = () => randomUUID().replaceAll('-', '');

/** A browser error event with the subject planted in message, breadcrumbs, URL and user. */
export function browserEvent(origin, eventId = newId()) {
  const query = new URLSearchParams({ name: PLANTED.name, dob: PLANTED.dob });
  return {
    event_id: eventId,
    platform: 'javascript',
    level: 'error',
    timestamp: Date.now() / 1000,
    environment: 'production',
    release: 'screening-example@1.0.0',
    sdk: {
      name: 'sentry.javascript.browser',
      version: '11.12.0',
      integrations: ['InboundFilters', 'Breadcrumbs', 'GlobalHandlers'],
      packages: [{ name: 'npm:@sentry/browser', version: '11.12.0' }],
    },
    exception: {
      values: [
        {
          type: 'Error',
          value: `Screening failed for ${PLANTED.name} (${PLANTED.dob})`,
          stacktrace: {
            frames: [
              {
                filename: `${origin}/_next/static/chunks/app/screen/page-0123abcd.js`,
                function: 'onSubmit',
                lineno: 1,
                colno: 2345,
                in_app: true,
              },
            ],
          },
          mechanism: { type: 'onerror', handled: false },
        },
      ],
    },
    request: {
      url: `${origin}/screen?${query}`,
      headers: { 'User-Agent': 'Mozilla/5.0 (X11; Linux x86_64)', Referer: `${origin}/list?${query}` },
    },
    breadcrumbs: [
      {
        timestamp: Date.now() / 1000,
        category: 'console',
        level: 'log',
        message: `form state ${JSON.stringify(PLANTED)}`,
        data: { arguments: ['form state', PLANTED], logger: 'console' },
      },
      { timestamp: Date.now() / 1000, category: 'navigation', data: { from: '/', to: `/screen?${query}` } },
    ],
    user: { id: 'officer-17', email: PLANTED.email, ip_address: '{{auto}}', username: PLANTED.name },
    contexts: { trace: { trace_id: newId(), span_id: newId().slice(0, 16) } },
  };
}

/** Frames an envelope: header, then [itemHeader, payload] pairs; payloads are objects or Buffers. */
export function envelope(header, items) {
  const parts = [Buffer.from(JSON.stringify(header) + '\n')];
  for (const [itemHeader, payload] of items) {
    const bytes = Buffer.isBuffer(payload) ? payload : Buffer.from(JSON.stringify(payload));
    parts.push(Buffer.from(JSON.stringify(itemHeader) + '\n'), bytes, Buffer.from('\n'));
  }
  return Buffer.concat(parts);
}

/** The envelope the SDK sends for one error: items without `length`, as @sentry/browser writes them. */
export function eventEnvelope(dsn, origin, eventId = newId()) {
  return envelope(
    {
      event_id: eventId,
      sent_at: new Date().toISOString(),
      sdk: { name: 'sentry.javascript.browser', version: '11.12.0' },
      dsn,
    },
    [[{ type: 'event' }, browserEvent(origin, eventId)]],
  );
}

/** A POST to the tunnel as a same-origin page makes it. */
export function tunnelRequest(origin, body, { headers = {} } = {}) {
  return new Request(`${origin}/monitoring`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain;charset=UTF-8', origin, ...headers },
    body,
  });
}

/** A browser's session update as @sentry/browser sends it: `did` is the signed-in user (here an email), `attrs` the page's. */
export function browserSession(sid = newId()) {
  const now = new Date().toISOString();
  return {
    sid,
    did: PLANTED.email,
    init: true,
    started: now,
    timestamp: now,
    status: 'ok',
    errors: 1,
    duration: 0,
    attrs: {
      release: 'screening-example@1.0.0',
      environment: 'production',
      ip_address: '{{auto}}',
      user_agent: 'Mozilla/5.0 (X11; Linux x86_64)',
    },
  };
}

/** A client report as the SDK sends it: what it dropped, counted. */
export const clientReport = () => ({
  timestamp: Date.now() / 1000,
  discarded_events: [{ reason: 'queue_overflow', category: 'error', quantity: 2 }],
});
