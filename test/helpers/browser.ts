import { existsSync } from 'node:fs';

import type { Browser } from 'playwright-core';
import { chromium } from 'playwright-core';

/** Debian's Chromium, driven by playwright-core. */
export const chromiumPath = '/usr/bin/chromium';

/**
 * Whether the browser tests can run. CI installs Chromium, so there a missing browser is a failure;
 * locally the browser tests are skipped with one line.
 */
export function chromiumAvailable(): boolean {
  const available = existsSync(chromiumPath);
  if (!available && process.env.CI) throw new Error(`${chromiumPath} is missing; .ci/run installs it`);
  if (!available) console.log(`skipped: browser tests need ${chromiumPath} (apt-get install chromium)`);
  return available;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}
