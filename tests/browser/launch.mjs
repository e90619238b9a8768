// Launches Debian's Chromium (never a downloaded browser) headless, with the flags this
// machine's closed network needs. Every browser test imports this.
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.MAILGATE_CHROMIUM || '/usr/bin/chromium';

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}
