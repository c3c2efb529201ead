import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { chromiumAvailable, launchChromium } from '../helpers/browser.ts';
import { redirectUri } from '../helpers/gatehouse.ts';
import { basicModuleTests, fillProfile } from './basic-modules.ts';
import type { Callback, Conformance } from './harness.ts';
import { authorizationRequest, checkCallback, checkIdToken, exchange, startConformance } from './harness.ts';
import { modulesOf, titleOf } from './modules.ts';

const plan = 'oidcc-formpost-basic-certification-test-plan';
const available = chromiumAvailable();

/** The basic plan's modules with response_mode=form_post: every answer reaches the client as a form POST. */
describe(plan, () => {
  let h: Conformance;
  let browser: Browser | undefined;
  beforeAll(async () => {
    h = await startConformance('form_post', { profile: fillProfile });
    if (available) browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await h?.stop();
  });

  it('has a test for every module of the plan, and no other', () => {
    expect(Object.keys(basicModuleTests).sort()).toEqual(modulesOf(plan).map((module) => module.name).sort());
    expect(h.basic.config.serverMetadata().response_modes_supported).toContain('form_post');
  });

  // The modules read the form_post page as a browser would post it; this is a browser posting it:
  // the page's inline script runs under its Content-Security-Policy and submits the form by itself.
  it.skipIf(!available)('the form_post page posts itself to the client in Chromium', async () => {
    const request = authorizationRequest(h, h.basic);
    const context = await browser!.newContext();
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    let received: Callback | undefined;
    await page.route(`${redirectUri}**`, async (route) => {
      const posted = route.request();
      received = { method: posted.method() as 'GET' | 'POST', url: new URL(posted.url()), params: new URLSearchParams(posted.postData() ?? ''), enctype: posted.headers()['content-type'] ?? '' };
      await route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>client</title><p>back at the client</p>' });
    });
    await page.goto(request.url.href);
    await page.getByLabel('Email').fill(h.person.email);
    await page.getByLabel('Password').fill(h.person.password);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL(`${redirectUri}**`);
    await context.close();
    expect(problems).toEqual([]);
    expect(received).toBeDefined();
    checkCallback(h, received!, request);
    const tokens = await exchange(h.basic, received!, request);
    await checkIdToken(h, h.basic, tokens.id_token!, { nonce: request.nonce, accessToken: tokens.access_token });
    // Consent is remembered per person and client; the modules below start, like the suite's, from
    // a person who has not consented yet (oidcc-server sees the consent page).
    await h.gatehouse.store.sessionActivity.forgetApp(h.person.id, h.basic.clientId);
  });

  for (const module of modulesOf(plan)) {
    it(titleOf(module), () => basicModuleTests[module.name]!(h));
  }
});
