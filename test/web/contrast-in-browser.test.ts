import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { TestGatehouse } from '../helpers/gatehouse.ts';
import { startGatehouse } from '../helpers/gatehouse.ts';
import { authorizationRequest, relyingParty } from '../helpers/relying-party.ts';
import { chromiumAvailable, launchChromium } from '../helpers/browser.ts';

/**
 * The colours Chromium computes for the login page, in the light and the dark scheme, measured
 * against WCAG 2.2: text on the filled button at least 4.5:1 (1.4.3), the fields' and outlined
 * buttons' borders at least 3:1 against the card (1.4.11). Before: white on #8cb0ff was 2.15:1 in
 * the dark scheme, #b8bcc6 borders 1.9:1 on white.
 */

const available = chromiumAvailable();

let gatehouse: TestGatehouse;
let browser: Browser;

beforeAll(async () => {
  if (!available) return;
  gatehouse = await startGatehouse();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await gatehouse?.stop();
});

type Computed = { getComputedStyle(element: unknown): { getPropertyValue(name: string): string } };

/** `rgb(r, g, b)` or `rgba(r, g, b, a)` as Chromium computes it. */
function channels(color: string): [number, number, number] {
  const match = /^rgba?\((\d+), (\d+), (\d+)(?:, ([\d.]+))?\)$/.exec(color);
  if (!match) throw new Error(`not a computed colour: ${color}`);
  if (match[4] !== undefined && Number(match[4]) !== 1) throw new Error(`translucent: ${color}`);
  return [Number(match[1]), Number(match[2]), Number(match[3])];
}

/** WCAG 2.2 relative luminance and contrast ratio. */
function luminance(color: string): number {
  const [r, g, b] = channels(color).map((value) => {
    const c = value / 255;
    return c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  }) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function contrast(a: string, b: string): number {
  const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x) as [number, number];
  return (light + 0.05) / (dark + 0.05);
}

describe.skipIf(!available)('colour contrast of the pages, in Chromium', () => {
  it('is 1.4.3 and 1.4.11 compliant for the filled button and the borders, in both colour schemes', async () => {
    const rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Contrast' }));
    const measured: Record<string, { button: number; field: number }> = {};
    for (const colorScheme of ['light', 'dark'] as const) {
      const context = await browser.newContext({ colorScheme });
      const page = await context.newPage();
      await page.goto((await authorizationRequest(rp)).url.href);
      const button = page.getByRole('button', { name: 'Sign in', exact: true });
      const field = page.getByLabel('Email');
      // Runs in the page (the test's own types have no DOM).
      const style = (locator: typeof button, property: string) => locator.evaluate((element, name) => (globalThis as unknown as Computed).getComputedStyle(element).getPropertyValue(name), property);
      const card = await style(page.locator('.card'), 'background-color');
      measured[colorScheme] = {
        button: contrast(await style(button, 'color'), await style(button, 'background-color')),
        field: contrast(await style(field, 'border-top-color'), card),
      };
      await context.close();
    }
    // The two schemes really differ (the dark one is not the light one again).
    expect(measured.light!.button).not.toBeCloseTo(measured.dark!.button, 1);
    for (const scheme of ['light', 'dark']) {
      expect(measured[scheme]!.button, `${scheme}: text on the filled button`).toBeGreaterThanOrEqual(4.5);
      expect(measured[scheme]!.field, `${scheme}: field border against the card`).toBeGreaterThanOrEqual(3);
    }
  });
});
