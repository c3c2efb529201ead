import * as client from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';

import { systemClock } from '../../../src/clock.ts';
import { cliSource } from '../../../src/libraries/audit.ts';
import { connectionsLibrary } from '../../../src/libraries/connections.ts';
import type { ConnectionsLibrary } from '../../../src/libraries/connections.ts';
import { createLibraries } from '../../../src/libraries/index.ts';
import type { Libraries } from '../../../src/libraries/index.ts';
import type { Locale } from '../../../src/messages/locales.ts';
import { enrollTotp, startLocalhostGatehouse } from '../../flows/login/passkey-fixtures.ts';
import type { MovableClock } from '../../helpers/clock.ts';
import { movableClock } from '../../helpers/clock.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import type { MailSink } from '../../helpers/mail-sink.ts';
import { codeIn, linkIn, startMailSink } from '../../helpers/mail-sink.ts';
import { authorizationRequest, relyingParty } from '../../helpers/relying-party.ts';
import { totp } from '../../helpers/totp.ts';
import type { UpstreamProvider } from '../../helpers/upstream-provider.ts';
import { startUpstreamProvider } from '../../helpers/upstream-provider.ts';
import { asPage, UserAgent } from '../../helpers/user-agent.ts';

/**
 * Every page state a person can meet, each with how to reach it in a fresh browser context: the
 * registry the accessibility sweep (sweep.ts) walks in every language, colour scheme and width.
 * Forms are found by their action and fields by their name, never by their words: the pages are
 * walked in every language. One server per test file (a localhost issuer, so passkeys are offered),
 * users created once where a state does not use them up.
 */

export const deviceGrant = 'urn:ietf:params:oauth:grant-type:device_code';
export const password = 'a long passphrase for the sweep';
const attackerAddress = '203.0.113.7';

export type World = {
  gatehouse: TestGatehouse;
  sink: MailSink;
  upstream: UpstreamProvider;
  clock: MovableClock;
  libraries: Libraries;
  connections: ConnectionsLibrary;
  /** A third-party application (consent is asked), with its policy and terms. */
  app: client.Configuration;
  mfaApp: client.Configuration;
  passkeyOnlyApp: client.Configuration;
  device: client.Configuration;
  /** A second server whose registration is closed, started when first needed. */
  closed(): Promise<{ gatehouse: TestGatehouse; app: client.Configuration }>;
  /** A fresh address at example.com, unique in this server. */
  nextEmail(label: string): string;
  /** A person with a password (and, when asked, an authenticator app); returns the app's secret too. */
  person(label: string, options?: { totp?: boolean }): Promise<{ id: string; email: string; password: string; secret?: string }>;
  /** An address locked by failed passwords from the attacker's source (TRUST_PROXY is on). */
  lockedPerson(): Promise<{ email: string; password: string }>;
  stop(): Promise<void>;
};

export async function startWorld(): Promise<World> {
  const sink = await startMailSink();
  const clock = movableClock();
  const gatehouse = await startLocalhostGatehouse({
    clock,
    env: { SMTP_URL: sink.url, TRUST_PROXY: 'true' },
    // An address is locked after 6 failures in a row, without waits before (the 429 and sign-in code pages).
    adjust: (config) => ({
      ...config,
      limits: { ...config.limits, password: { ...config.limits.password, maxConsecutiveFailures: 6, account: { freeFailures: 6, firstDelaySeconds: 1, maxDelaySeconds: 1 } } },
    }),
  });
  const upstream = await startUpstreamProvider({ redirectUris: [`${gatehouse.url}/connections/acme/callback`] });
  const connections = connectionsLibrary({ store: gatehouse.store, config: gatehouse.config, clock: systemClock, keyEncryptionKey: gatehouse.secrets.keyEncryptionKey });
  // Disabled until a state needs its button, so the plain login page has none.
  await connections.add({
    type: 'oidc', id: 'acme', name: 'Acme SSO', issuer: upstream.issuer, clientId: upstream.clientId, clientSecret: upstream.clientSecret,
    allowNewAccounts: true, trustVerifiedEmails: true,
  }, cliSource);
  await connections.setDisabled('acme', true, cliSource);
  const libraries = createLibraries({ store: gatehouse.store, config: gatehouse.config, clock, outbox: gatehouse.outbox, keyEncryptionKey: gatehouse.secrets.keyEncryptionKey });
  const app = await relyingParty(gatehouse, await gatehouse.addClient({
    name: 'Northwind Notes', policyUri: 'https://notes.example/privacy', tosUri: 'https://notes.example/terms',
  }));
  const mfaApp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Northwind Payroll', firstParty: true, requireMfa: true }));
  const passkeyOnlyApp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Northwind Vault', firstParty: true, requirePhishingResistant: true }));
  const device = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Living room TV', public: true, redirectUris: [], postLogoutRedirectUris: [], grantTypes: [deviceGrant] }));
  let counter = 0;
  let closedServer: Promise<{ gatehouse: TestGatehouse; app: client.Configuration }> | undefined;
  let locked: { email: string; password: string } | undefined;
  const nextEmail = (label: string) => `${label}-${(counter += 1)}@example.com`;
  return {
    gatehouse, sink, upstream, clock, libraries, connections, app, mfaApp, passkeyOnlyApp, device, nextEmail,
    closed() {
      closedServer ??= startGatehouse({ env: { REGISTRATION: 'closed' } }).then(async (closed) => ({ gatehouse: closed, app: await relyingParty(closed, await closed.addClient({ name: 'Northwind Notes', firstParty: true })) }));
      return closedServer;
    },
    async person(label, options = {}) {
      const email = nextEmail(label);
      const id = await gatehouse.addUser(email, password, { name: 'Noor Haddad' });
      const secret = options.totp ? await enrollTotp(gatehouse, { id, email }) : undefined;
      return { id, email, password, ...(secret ? { secret } : {}) };
    },
    async lockedPerson() {
      locked ??= { email: nextEmail('locked'), password };
      if (!(await gatehouse.store.accounts.findByEmail(locked.email))) await gatehouse.addUser(locked.email, password);
      // Wrong passwords from the attacker's source until the address is locked (a right one from
      // another source, which the sign-in code state sends, may have counted as a success).
      const attacker = new UserAgent(gatehouse.url);
      attacker.headers['x-forwarded-for'] = attackerAddress;
      for (let tries = 0; tries < 12; tries += 1) {
        const login = await attacker.page((await authorizationRequest(app)).url.href);
        const answer = asPage(await attacker.submit(login, '/login', { email: locked.email, password: 'not the passphrase' }));
        if (answer.status === 429) return locked;
      }
      throw new Error('the address did not lock');
    },
    async stop() {
      await upstream.stop();
      await gatehouse.stop();
      await (await closedServer)?.gatehouse.stop();
      await sink.close();
    },
  };
}

/** What a state's `reach` is given: a fresh context and page in the language under test. */
export type Visit = { world: World; browser: Browser; context: BrowserContext; page: Page; locale: Locale };

export type PageState = {
  name: string;
  /** The page says something failed: its title must start with the language's "Error" word. */
  failure?: boolean;
  /** Changes what the whole server does for a moment (the clock, a lock, the connection, the upstream): reached alone, not alongside others. */
  exclusive?: boolean;
  /**
   * Showing the page again (a GET of its address) changes nothing and shows the same state: the
   * sweep reaches it once and, for the other languages, reloads it with the switcher's cookie
   * (re-minting a form token or a passkey challenge counts as nothing). Never for a page answering
   * a POST, one that uses something up, or one that depends on what an exclusive state changed.
   */
  reload?: boolean;
  /** Extra context options (a source address). */
  context?: { extraHTTPHeaders?: Record<string, string> };
  reach(visit: Visit): Promise<void>;
};

// ---------------------------------------------------------------------------------------------------
// Moving through the pages without reading their words.

/** Fills a form's fields by name and submits it with its first (or the given) submit button; waits for the next page. */
export async function submit(page: Page, form: string, fields: Record<string, string> = {}, button = 'button[type=submit]'): Promise<void> {
  const target = page.locator(form).first();
  for (const [name, value] of Object.entries(fields)) await target.locator(`[name="${name}"]`).fill(value);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), target.locator(button).first().click()]);
}

async function goto(page: Page, url: string): Promise<void> {
  await page.goto(url, { waitUntil: 'load' });
}

/** Opens an authorization request of `app` in the page's language (ui_locales). */
export async function authorize(visit: Visit, app: client.Configuration, params: Record<string, string> = {}) {
  const request = await authorizationRequest(app, { ui_locales: visit.locale, ...params });
  await goto(visit.page, request.url.href);
  return request;
}

const interactionUrl = (page: Page) => new URL(page.url()).pathname.match(/^\/interaction\/[^/]+/)![0];

async function signIn(page: Page, who: { email: string; password: string }) {
  await submit(page, 'form[action$="/login"]', { email: who.email, password: who.password });
}

/** Through consent pages (if any) until the page is elsewhere. */
async function allowIfAsked(page: Page) {
  for (let step = 0; step < 3 && (await page.locator('button[name=decision][value=allow]').count()); step += 1) {
    await submit(page, 'form[action$="/consent"]', {}, 'button[name=decision][value=allow]');
  }
}

/** Signed in on the account page (its own sign-in through the provider, in the page's language). */
async function accountPage(visit: Visit, who?: { email: string; password: string }) {
  const person = who ?? (await visit.world.person('account'));
  await goto(visit.page, `${visit.world.gatehouse.url}/account`);
  await signIn(visit.page, person);
  if (!new URL(visit.page.url()).pathname.startsWith('/account')) throw new Error(`not on the account page: ${visit.page.url()}`);
  return person;
}

async function registerForm(visit: Visit) {
  await authorize(visit, visit.world.app);
  await goto(visit.page, `${visit.world.gatehouse.url}${interactionUrl(visit.page)}/register`);
}

async function registered(visit: Visit, method?: 'passkey') {
  const email = visit.world.nextEmail('new');
  await registerForm(visit);
  if (method === 'passkey') {
    await visit.page.locator('input[name=email]').fill(email);
    await submit(visit.page, 'form[action$="/register"]', { name: 'Noor Haddad' }, 'button[name=method][value=passkey]');
  } else {
    await submit(visit.page, 'form[action$="/register"]', { email, name: 'Noor Haddad', password });
  }
  return email;
}

async function mailTo(world: World, email: string, subject?: RegExp) {
  return world.sink.waitFor((mail) => mail.to === email && (!subject || subject.test(mail.subject)));
}

async function secondFactor(visit: Visit) {
  const person = await visit.world.person('totp', { totp: true });
  await authorize(visit, visit.world.app);
  await signIn(visit.page, person);
  return person;
}

async function mfaSetup(visit: Visit) {
  const person = await visit.world.person('enrol');
  await authorize(visit, visit.world.mfaApp);
  await signIn(visit.page, person);
}

async function withConnection<T>(world: World, run: () => Promise<T>): Promise<T> {
  await world.connections.setDisabled('acme', false, cliSource);
  try {
    return await run();
  } finally {
    await world.connections.setDisabled('acme', true, cliSource);
  }
}

async function deviceCode(visit: Visit) {
  const started = await client.initiateDeviceAuthorization(visit.world.device, { scope: 'openid email profile' });
  await goto(visit.page, started.verification_uri);
  return started;
}

async function deviceConfirm(visit: Visit) {
  const started = await deviceCode(visit);
  await submit(visit.page, 'form:has(input[name=user_code])', { user_code: started.user_code });
}

async function endSession(visit: Visit) {
  await accountPage(visit);
  await goto(visit.page, visit.world.app.serverMetadata().end_session_endpoint!);
}

// ---------------------------------------------------------------------------------------------------

export const pageStates: PageState[] = [
  { name: 'home', reload: true, reach: (v) => goto(v.page, `${v.world.gatehouse.url}/`) },

  // Signing in.
  { name: 'login', reload: true, reach: (v) => authorize(v, v.world.app).then(() => undefined) },
  {
    name: 'login-wrong-password', failure: true,
    async reach(v) {
      await authorize(v, v.world.app);
      await signIn(v.page, { email: 'nobody@example.com', password: 'not the passphrase' });
    },
  },
  {
    name: 'login-field-errors', failure: true,
    async reach(v) {
      await authorize(v, v.world.app);
      await signIn(v.page, { email: 'not an address', password: '' });
    },
  },
  { name: 'login-passkey-only', reload: true, reach: (v) => authorize(v, v.world.passkeyOnlyApp).then(() => undefined) },
  {
    name: 'login-with-connections', exclusive: true,
    reach: (v) => withConnection(v.world, () => authorize(v, v.world.app).then(() => undefined)),
  },
  {
    name: 'sign-in-code', exclusive: true, context: { extraHTTPHeaders: { 'x-forwarded-for': '198.51.100.20' } },
    async reach(v) {
      const locked = await v.world.lockedPerson();
      await authorize(v, v.world.app);
      await signIn(v.page, locked);
    },
  },
  {
    name: 'error-429-too-many', failure: true, exclusive: true, context: { extraHTTPHeaders: { 'x-forwarded-for': attackerAddress } },
    async reach(v) {
      const locked = await v.world.lockedPerson();
      await authorize(v, v.world.app);
      await signIn(v.page, locked);
    },
  },

  // Registration and the mailbox.
  { name: 'register', reload: true, reach: registerForm },
  {
    name: 'register-empty-fields', failure: true,
    async reach(v) {
      await registerForm(v);
      await submit(v.page, 'form[action$="/register"]');
    },
  },
  {
    name: 'register-invalid-email', failure: true,
    async reach(v) {
      await registerForm(v);
      await submit(v.page, 'form[action$="/register"]', { email: 'noor@', name: 'Noor Haddad', password });
    },
  },
  {
    name: 'register-weak-password', failure: true,
    async reach(v) {
      await registerForm(v);
      await submit(v.page, 'form[action$="/register"]', { email: v.world.nextEmail('weak'), name: 'Noor Haddad', password: 'password1' });
    },
  },
  {
    name: 'register-closed', failure: true, reload: true,
    async reach(v) {
      const closed = await v.world.closed();
      const request = await authorizationRequest(closed.app, { ui_locales: v.locale });
      await goto(v.page, request.url.href);
      await goto(v.page, `${closed.gatehouse.url}${interactionUrl(v.page)}/register`);
    },
  },
  { name: 'verify-email', reload: true, reach: (v) => registered(v).then(() => undefined) },
  {
    name: 'verify-email-wrong-code', failure: true,
    async reach(v) {
      await registered(v);
      await submit(v.page, 'form[action$="/verify-email"]', { code: '000000' });
    },
  },
  {
    name: 'confirm-email-link', reload: true,
    async reach(v) {
      const email = await registered(v);
      await goto(v.page, linkIn(await mailTo(v.world, email), v.world.gatehouse.url).href);
    },
  },
  {
    name: 'email-confirmed',
    async reach(v) {
      const email = await registered(v);
      await goto(v.page, linkIn(await mailTo(v.world, email), v.world.gatehouse.url).href);
      // The link's page confirms with a button (a mail scanner following the link confirms nothing).
      await submit(v.page, 'main form');
    },
  },
  {
    name: 'passkey-registration-offer', reload: true,
    async reach(v) {
      const email = await registered(v, 'passkey');
      await submit(v.page, 'form[action$="/verify-email"]', { code: codeIn(await mailTo(v.world, email)) });
    },
  },

  // Recovery.
  {
    name: 'forgot-password', reload: true,
    async reach(v) {
      await authorize(v, v.world.app);
      await goto(v.page, `${v.world.gatehouse.url}${interactionUrl(v.page)}/forgot-password`);
    },
  },
  {
    name: 'forgot-password-sent',
    async reach(v) {
      await authorize(v, v.world.app);
      await goto(v.page, `${v.world.gatehouse.url}${interactionUrl(v.page)}/forgot-password`);
      await submit(v.page, 'form[action$="/forgot-password"]', { email: v.world.nextEmail('nobody') });
    },
  },
  {
    name: 'reset-password', reload: true,
    async reach(v) {
      const person = await v.world.person('reset');
      await authorize(v, v.world.app);
      await goto(v.page, `${v.world.gatehouse.url}${interactionUrl(v.page)}/forgot-password`);
      await submit(v.page, 'form[action$="/forgot-password"]', { email: person.email });
      await goto(v.page, linkIn(await mailTo(v.world, person.email), v.world.gatehouse.url).href);
    },
  },
  {
    name: 'reset-password-weak', failure: true,
    async reach(v) {
      const person = await v.world.person('reset');
      await authorize(v, v.world.app);
      await goto(v.page, `${v.world.gatehouse.url}${interactionUrl(v.page)}/forgot-password`);
      await submit(v.page, 'form[action$="/forgot-password"]', { email: person.email });
      await goto(v.page, linkIn(await mailTo(v.world, person.email), v.world.gatehouse.url).href);
      await submit(v.page, 'form[action*="/reset-password/"]', { password: 'password1' });
    },
  },
  { name: 'reset-password-invalid-link', failure: true, reload: true, reach: (v) => goto(v.page, `${v.world.gatehouse.url}/reset-password/not-a-real-token-0123456789`) },

  // Second factor.
  { name: 'second-factor', reload: true, reach: (v) => secondFactor(v).then(() => undefined) },
  {
    name: 'second-factor-wrong-code', failure: true,
    async reach(v) {
      await secondFactor(v);
      await submit(v.page, 'form[action$="/second-factor"]', { code: '000000' });
    },
  },
  {
    name: 'second-factor-wrong-recovery-code', failure: true,
    async reach(v) {
      await secondFactor(v);
      await submit(v.page, 'form[action$="/second-factor"]', { code: 'abcd-efgh-jkmn' });
    },
  },
  { name: 'mfa-setup', reload: true, reach: mfaSetup },
  {
    name: 'mfa-setup-wrong-code', failure: true,
    async reach(v) {
      await mfaSetup(v);
      await submit(v.page, 'form[action$="/mfa/setup"]', { code: '000000' });
    },
  },
  {
    name: 'recovery-codes',
    async reach(v) {
      await mfaSetup(v);
      const secret = (await v.page.locator('#secret').textContent())!.replace(/\s/g, '');
      await submit(v.page, 'form[action$="/mfa/setup"]', { code: totp(secret) });
    },
  },

  // Another provider.
  {
    name: 'link-identity', exclusive: true,
    async reach(v) {
      const email = v.world.nextEmail('linked');
      await v.world.gatehouse.addUser(email, password);
      v.world.upstream.setUser({ sub: `upstream-${email}`, email, email_verified: false, name: 'Noor Haddad' });
      await withConnection(v.world, async () => {
        await authorize(v, v.world.app);
        await submit(v.page, 'form[action*="/connection/acme"]');
      });
    },
  },
  {
    name: 'connection-problem', failure: true, exclusive: true,
    async reach(v) {
      v.world.upstream.setUser({ sub: 'upstream-refused', email: 'refused@example.com', email_verified: true });
      await withConnection(v.world, async () => {
        await authorize(v, v.world.app);
        v.world.upstream.misbehave('access-denied');
        try {
          await submit(v.page, 'form[action*="/connection/acme"]');
        } finally {
          v.world.upstream.misbehave(null);
        }
      });
    },
  },

  // Consent and signing out.
  {
    name: 'consent', reload: true,
    async reach(v) {
      const person = await v.world.person('consent');
      await authorize(v, v.world.app, { scope: 'openid email profile address phone', claims: JSON.stringify({ userinfo: { phone_number: { essential: true } } }) });
      await signIn(v.page, person);
    },
  },
  { name: 'logout', reload: true, reach: endSession },
  {
    name: 'logged-out', reload: true,
    async reach(v) {
      await endSession(v);
      await submit(v.page, 'main', {}, 'button[name=logout]');
    },
  },

  // Error pages.
  { name: 'error-404', failure: true, reload: true, reach: (v) => goto(v.page, `${v.world.gatehouse.url}/no-such-page`) },
  { name: 'error-bad-redirect-uri', failure: true, reload: true, reach: (v) => authorize(v, v.world.app, { redirect_uri: 'https://attacker.example/steal' }).then(() => undefined) },
  {
    name: 'error-403-form-expired', failure: true,
    async reach(v) {
      await authorize(v, v.world.app);
      await v.page.locator('form[action$="/login"] input[name=csrf]').evaluate((input) => input.setAttribute('value', 'expired-token'));
      await signIn(v.page, { email: 'nobody@example.com', password: 'not the passphrase' });
    },
  },

  // The device flow.
  { name: 'device-code', reload: true, reach: (v) => deviceCode(v).then(() => undefined) },
  {
    name: 'device-code-wrong', failure: true,
    async reach(v) {
      await deviceCode(v);
      await submit(v.page, 'form:has(input[name=user_code])', { user_code: 'BBBB-BBBB' });
    },
  },
  { name: 'device-confirm', reach: deviceConfirm },
  {
    name: 'device-approved',
    async reach(v) {
      await deviceConfirm(v);
      await submit(v.page, 'form:has(input[name=user_code])', {}, 'button[name=confirm]');
      await signIn(v.page, await v.world.person('device'));
      await allowIfAsked(v.page);
    },
  },
  {
    name: 'device-denied',
    async reach(v) {
      await deviceConfirm(v);
      await submit(v.page, 'form:has(input[name=user_code])', {}, 'button[name=abort]');
    },
  },

  // The account centre.
  { name: 'account', reload: true, reach: (v) => accountPage(v).then(() => undefined) },
  {
    name: 'account-password-error', failure: true,
    async reach(v) {
      await accountPage(v);
      await submit(v.page, 'form[action="/account/password"]', { current_password: 'not the passphrase', new_password: 'password1' });
    },
  },
  {
    name: 'account-mfa-setup', reload: true,
    async reach(v) {
      await accountPage(v);
      await goto(v.page, `${v.world.gatehouse.url}/account/mfa/setup`);
    },
  },
  ...(['sessions', 'apps', 'profile', 'email', 'export', 'delete'] as const).map((section): PageState => ({
    name: `account-${section}`, reload: true,
    async reach(v) {
      await accountPage(v);
      await goto(v.page, `${v.world.gatehouse.url}/account/${section}`);
    },
  })),
  {
    name: 'account-profile-errors', failure: true,
    async reach(v) {
      await accountPage(v);
      await goto(v.page, `${v.world.gatehouse.url}/account/profile`);
      await submit(v.page, 'form[action$="/account/profile"]', { website: 'not an address', birthdate: 'yesterday' });
    },
  },
  {
    name: 'account-email-code',
    async reach(v) {
      await accountPage(v);
      await goto(v.page, `${v.world.gatehouse.url}/account/email`);
      await submit(v.page, 'form:has(input[name=current_password])', { email: v.world.nextEmail('moved'), current_password: password });
    },
  },
  {
    name: 'account-delete-refused', failure: true,
    async reach(v) {
      await accountPage(v);
      await goto(v.page, `${v.world.gatehouse.url}/account/delete`);
      await submit(v.page, 'form:has(input[name=confirm])', { confirm: 'not me' });
    },
  },
  {
    name: 'account-reauthenticate', exclusive: true,
    async reach(v) {
      await accountPage(v);
      // The sign-in behind the page is older than five minutes: deleting asks for a fresh one.
      v.world.clock.advance(6 * 60_000);
      try {
        await goto(v.page, `${v.world.gatehouse.url}/account/delete`);
      } finally {
        v.world.clock.advance(-6 * 60_000);
      }
    },
  },
  {
    name: 'pending-deletion', reload: true,
    async reach(v) {
      const person = await v.world.person('leaving');
      await v.world.libraries.accountDeletion.request(person.id, { actor: 'user' });
      await goto(v.page, `${v.world.gatehouse.url}/account`);
      await signIn(v.page, person);
    },
  },
];
