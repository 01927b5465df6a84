// Next.js runs this file in the browser before the app (Next.js 15.3+). Sentry's own browser
// SDK catches the errors; `tunnel` sends them to this app's `/monitoring` route, not to
// Sentry, so the server scrubs them before anything leaves it (README, "Browser errors").
import * as Sentry from '@sentry/browser';

Sentry.init({
  dsn: process.env.NEXT_PUBLIC_SENTRY_DSN,
  tunnel: '/monitoring',
  release: process.env.NEXT_PUBLIC_SENTRY_RELEASE,
  // Never add replayIntegration(): Session Replay records the page's DOM, form fields
  // included, and no scrubber can clean that. The tunnel drops replays anyway.
});
