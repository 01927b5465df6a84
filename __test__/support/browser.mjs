// A real browser for the tests: Debian's `chromium`, driven by playwright-core pointed at the
// system executable. `npm test`'s setup installs it with apt (scripts/ensure-chromium.mjs);
// where it is missing, launching fails with a message naming what to install.
import { chromium } from 'playwright-core';
import { chromiumPath, ensureChromium } from '../../scripts/ensure-chromium.mjs';

/** Launches headless Chromium; close it with `await browser.close()`. */
export async function launchBrowser() {
  if (!chromiumPath()) await ensureChromium();
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // The CI machine runs as root in a container: Chromium's sandbox needs user namespaces.
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
}
