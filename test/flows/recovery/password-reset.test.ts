import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { setAccountDisabled } from '../../../src/libraries/accounts.ts';
import { message } from '../../../src/messages/messages.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { movableClock } from '../../helpers/clock.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import type { MailSink, SunkMail } from '../../helpers/mail-sink.ts';
import { linkIn, startMailSink } from '../../helpers/mail-sink.ts';
import { authorizationRequest, relyingParty, signIn } from '../../helpers/relying-party.ts';
import { autofocused, expectFieldProblem, fieldProblem, titleOf } from '../../helpers/field-problems.ts';
import type { Page } from '../../helpers/user-agent.ts';
import { isPage, UserAgent } from '../../helpers/user-agent.ts';

const oldPassword = 'correct horse battery staple';
const newPassword = 'violet tugboat orchestra lantern';

let sink: MailSink;
let gatehouse: TestGatehouse;
let rp: client.Configuration;

beforeAll(async () => {
  sink = await startMailSink();
  gatehouse = await startGatehouse({ env: { SMTP_URL: sink.url } });
  rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Reset test app' }));
});

afterAll(async () => {
  await gatehouse?.stop();
  await sink?.close();
});

async function tokenError(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return (error as { error?: string }).error ?? (error as Error).message;
  }
  return undefined;
}

function page(result: Page | { redirectedTo: string }): Page {
  if (!isPage(result)) throw new Error(`expected a page, was redirected to ${result.redirectedTo}`);
  return result;
}

/** A browser that started signing in to the app and followed "Forgot password?" on the login page. */
async function onForgotPasswordPage(ua = new UserAgent(gatehouse.url), server = gatehouse, config = rp): Promise<{ ua: UserAgent; page: Page; uid: string }> {
  const login = await ua.page((await authorizationRequest(config)).url.href);
  const href = login.document.querySelector('a[href$="/forgot-password"]')?.getAttribute('href');
  if (!href) throw new Error(`no "Forgot password?" link on ${login.url}`);
  const forgot = await ua.page(new URL(href, server.url).href);
  expect(forgot.status).toBe(200);
  const uid = /\/interaction\/([^/]+)\//.exec(forgot.url)![1]!;
  return { ua, page: forgot, uid };
}

async function askForReset(email: string, server = gatehouse, config = rp): Promise<{ response: Page; uid: string; ua: UserAgent }> {
  const { ua, page: forgot, uid } = await onForgotPasswordPage(new UserAgent(server.url), server, config);
  return { response: page(await ua.submit(forgot, '/forgot-password', { email })), uid, ua };
}

const isResetMail = (email: string) => (mail: SunkMail) => mail.to === email && mail.subject === 'Reset your password';

async function resetLinkFor(email: string, server = gatehouse, mails = sink): Promise<URL> {
  const mail = await mails.waitFor(isResetMail(email));
  return linkIn(mail, server.url);
}

/** Everything queued so far has been handed to the SMTP server. */
async function drainMail(server = gatehouse): Promise<void> {
  for (let round = 0; round < 20; round += 1) {
    await server.deliverMail();
    if ((await server.store.mail.status()).pending === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('mail still pending');
}

describe('forgot password', () => {
  it('shows the same page whether or not the address has an account, and mails only the existing one', async () => {
    await gatehouse.addUser('alice@example.com', oldPassword);
    const disabledId = await gatehouse.addUser('dave@example.com', oldPassword);
    await setAccountDisabled(gatehouse.store, disabledId, true);

    const known = await askForReset('alice@example.com');
    const unknown = await askForReset('nobody@example.com');
    const disabled = await askForReset('dave@example.com');

    const bodyOf = (result: { response: Page; uid: string }) => result.response.body.replaceAll(result.uid, '<uid>');
    expect(known.response.status).toBe(200);
    expect(known.response.body).toContain('If an account exists for that address, we sent it a link');
    expect(known.response.body).not.toContain('alice@example.com');
    for (const other of [unknown, disabled]) {
      expect(other.response.status).toBe(known.response.status);
      expect(other.response.headers.get('content-type')).toBe(known.response.headers.get('content-type'));
      expect(bodyOf(other)).toBe(bodyOf(known));
    }
    // "Back to sign in" returns to the same sign-in.
    expect(known.response.document.querySelector('a[href]')?.getAttribute('href')).toBe(`/interaction/${known.uid}`);

    const link = await resetLinkFor('alice@example.com');
    expect(link.pathname).toMatch(/^\/reset-password\/[A-Za-z0-9_-]{43}$/);
    await drainMail();
    expect(sink.to('nobody@example.com')).toEqual([]);
    expect(sink.to('dave@example.com')).toEqual([]);
  });

  it('answers a second request within the cooldown alike, without another mail', async () => {
    await gatehouse.addUser('bella@example.com', oldPassword);
    const first = await askForReset('bella@example.com');
    await resetLinkFor('bella@example.com');
    const second = await askForReset('bella@example.com');

    expect(second.response.status).toBe(200);
    expect(second.response.body.replaceAll(second.uid, '<uid>')).toBe(first.response.body.replaceAll(first.uid, '<uid>'));
    await drainMail();
    expect(sink.to('bella@example.com').filter((mail) => mail.subject === 'Reset your password')).toHaveLength(1);
  });

  it('takes about as long for an unknown address as for an existing one', async () => {
    await gatehouse.addUser('timing@example.com', oldPassword);
    const time = async (email: string) => {
      const { ua, page: forgot } = await onForgotPasswordPage();
      const started = performance.now();
      await ua.submit(forgot, '/forgot-password', { email });
      return performance.now() - started;
    };
    const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const known: number[] = [];
    const unknown: number[] = [];
    for (let round = 0; round < 7; round += 1) {
      known.push(await time('timing@example.com'));
      unknown.push(await time(`nobody-${round}@example.com`));
    }
    // Generous bound (shared CPUs): both do the same reads and one write; the mail to an existing
    // account is queued after the answer. No password hashing, no SMTP on this path.
    expect(Math.abs(median(known) - median(unknown))).toBeLessThan(50);
  });

  it('asks again for input that is not an email address', async () => {
    const { ua, page: forgot } = await onForgotPasswordPage();
    const again = page(await ua.submit(forgot, '/forgot-password', { email: 'not an address' }));
    expect(again.status).toBe(400);
    expectFieldProblem(again, 'email', 'Enter the email address of your account.');
    expect(again.document.querySelector('input[name=email]')?.getAttribute('value')).toBe('not an address');
  });
});

describe('in another language', () => {
  it('speaks the browser’s or the application’s language on the forgot-password page and its problems', async () => {
    const headers = { 'accept-language': 'de' };
    const ua = new UserAgent(gatehouse.url);
    const login = await ua.page((await authorizationRequest(rp)).url.href, { headers });
    const forgot = await ua.page(new URL(login.document.querySelector('a[href$="/forgot-password"]')!.getAttribute('href')!, gatehouse.url).href, { headers });
    expect(forgot.body).toContain('<html lang="de" dir="ltr">');
    expect(forgot.document.querySelector('h1')?.text).toBe(message('recovery.title', undefined, 'de'));
    expect(forgot.document.querySelector('label[for=email]')?.text).toBe(message('forgot_password.email_label', undefined, 'de'));
    const refused = page(await ua.navigate(new URL(forgot.document.querySelector('form')!.getAttribute('action')!, gatehouse.url).href, {
      method: 'POST', headers, body: new URLSearchParams({ csrf: forgot.document.querySelector('input[name=csrf]')!.getAttribute('value')!, email: 'kein' }),
    }));
    expect(refused.status).toBe(400);
    expect(fieldProblem(refused, 'email')).toBe('Geben Sie die E-Mail-Adresse Ihres Kontos ein.');

    // ui_locales of the application's request.
    const app = new UserAgent(gatehouse.url);
    const fromApp = await app.page((await authorizationRequest(rp, { ui_locales: 'de' })).url.href);
    const appForgot = await app.page(new URL(fromApp.document.querySelector('a[href$="/forgot-password"]')!.getAttribute('href')!, gatehouse.url).href);
    expect(appForgot.body).toContain('<html lang="de" dir="ltr">');
    expect(appForgot.document.querySelector('button[type=submit]')?.text).toBe(message('forgot_password.submit', undefined, 'de'));
  });
});

describe('the reset link', () => {
  it('shows the form on GET without using the link, applies the policy, and works exactly once', async () => {
    await gatehouse.addUser('carol@example.com', oldPassword, { name: 'Carol Danvers' });
    await askForReset('carol@example.com');
    const link = await resetLinkFor('carol@example.com');

    // A mail scanner and the person both open the link: still usable.
    const scanned = await new UserAgent(gatehouse.url).page(link.href);
    expect(scanned.status).toBe(200);
    const ua = new UserAgent(gatehouse.url);
    const form = await ua.page(link.href);
    expect(form.status).toBe(200);
    expect(form.body).toContain('carol@example.com');
    expect(form.document.querySelector('input[name=password]')).not.toBeNull();

    for (const [password, reason] of [
      ['short', 'Use at least 8 characters.'],
      ['password123', 'too common'],
      ['carol!danvers', 'Don&#39;t base your password on your name, your email address or Gatehouse.'],
    ] as const) {
      const refused = page(await ua.submit(form, '/reset-password/', { password }));
      expect(refused.status, password).toBe(400);
      expect(refused.body, password).toContain(reason);
      expect(fieldProblem(refused, 'password'), password).toContain(reason.replace('&#39;', "'"));
      expect(autofocused(refused), password).toEqual(['password']);
      expect(titleOf(refused).startsWith('Error: '), password).toBe(true);
      expect(refused.document.querySelector('#password')?.getAttribute('aria-describedby'), password).toBe('password-error password-hint');
    }

    const done = page(await ua.submit(form, '/reset-password/', { password: newPassword }));
    expect(done.status).toBe(200);
    expect(done.body).toContain('Your password was changed');
    expect((await gatehouse.store.accounts.findByEmail('carol@example.com'))?.emailVerified).toBe(true);
    await sink.waitFor((mail) => mail.to === 'carol@example.com' && mail.subject === 'Your password was changed');

    const reopened = await ua.page(link.href);
    expect(reopened.status).toBe(410);
    expect(reopened.body).toContain('This link is no longer valid');
    const reused = page(await ua.submit(form, '/reset-password/', { password: 'yet another long passphrase' }));
    expect(reused.status).toBe(410);

    // The old password no longer works; the new one does.
    const login = await new UserAgent(gatehouse.url).page((await authorizationRequest(rp)).url.href);
    const refused = page(await new UserAgent(gatehouse.url).submit(login, '/login', { email: 'carol@example.com', password: oldPassword }));
    expect(refused.status).toBeGreaterThanOrEqual(400);
    const { tokens } = await signIn(gatehouse, rp, { email: 'carol@example.com', password: newPassword });
    expect(tokens.claims()?.sub).toBe((await gatehouse.store.accounts.findByEmail('carol@example.com'))!.id);
  });

  it("ends the account's sessions and revokes its refresh tokens, and signs nobody in", async () => {
    const erinId = await gatehouse.addUser('erin@example.com', oldPassword);
    const { tokens, ua } = await signIn(gatehouse, rp, { email: 'erin@example.com', password: oldPassword }, { scope: 'openid offline_access', prompt: 'consent' });
    expect(tokens.refresh_token).toEqual(expect.any(String));
    // Before: the browser's session signs in silently.
    const before = await ua.navigate((await authorizationRequest(rp, { prompt: 'none', scope: 'openid' })).url.href);
    expect('redirectedTo' in before && new URL(before.redirectedTo).searchParams.get('code')).toBeTruthy();

    const { ua: resetter } = await askForReset('erin@example.com');
    const link = await resetLinkFor('erin@example.com');
    const form = await resetter.page(link.href);
    const done = page(await resetter.submit(form, '/reset-password/', { password: newPassword }));
    expect(done.status).toBe(200);

    const silent = await ua.navigate((await authorizationRequest(rp, { prompt: 'none', scope: 'openid' })).url.href);
    if (!('redirectedTo' in silent)) throw new Error('expected a redirect to the client');
    expect(new URL(silent.redirectedTo).searchParams.get('error')).toBe('login_required');
    expect(await tokenError(client.refreshTokenGrant(rp, tokens.refresh_token!))).toBe('invalid_grant');
    expect((await client.tokenIntrospection(rp, tokens.access_token)).active).toBe(false);
    // The browser that reset the password is not signed in either.
    const after = await resetter.navigate((await authorizationRequest(rp, { prompt: 'none', scope: 'openid' })).url.href);
    if (!('redirectedTo' in after)) throw new Error('expected a redirect to the client');
    expect(new URL(after.redirectedTo).searchParams.get('error')).toBe('login_required');
    expect((await gatehouse.store.audit.tail({ limit: 10, accountId: erinId })).map((event) => event.type)).toEqual(expect.arrayContaining(['password_reset_requested', 'password_reset']));
  });

  it('expires', async () => {
    const shortSink = await startMailSink();
    // The link runs out on the server's clock, moved forward, rather than in real time.
    const clock = movableClock();
    const short = await startGatehouse({
      clock,
      env: { SMTP_URL: shortSink.url },
      adjust: (config) => ({ ...config, accounts: { ...config.accounts, resetTokenTtlSeconds: 1 } }),
    });
    try {
      const shortRp = await relyingParty(short, await short.addClient({ name: 'Expiry app' }));
      await short.addUser('frank@example.com', oldPassword);
      await askForReset('frank@example.com', short, shortRp);
      const link = await resetLinkFor('frank@example.com', short, shortSink);
      // Opened in time, submitted too late.
      const opened = new UserAgent(short.url);
      const formPage = await opened.page(link.href);
      clock.advance(1_100);

      const ua = new UserAgent(short.url);
      const expired = await ua.page(link.href);
      expect(expired.status).toBe(410);
      expect(expired.body).toContain('Ask for a new one');
      const posted = await opened.submit(formPage, '/reset-password/', { password: newPassword });
      expect(isPage(posted) && posted.status).toBe(410);
    } finally {
      await short.stop();
      await shortSink.close();
    }
  });

  it('refuses unknown and malformed tokens with the same page', async () => {
    const ua = new UserAgent(gatehouse.url);
    for (const token of ['A'.repeat(43), 'nope', 'x'.repeat(3000), '%00%ff', '..%2F..%2Fetc']) {
      const result = await ua.page(`${gatehouse.url}/reset-password/${token}`);
      expect(result.status, token.slice(0, 10)).toBe(410);
      expect(result.body).toContain('This link is no longer valid');
    }
  });
});

describe('bad input gets a 4xx page, never a 5xx', () => {
  const form = (body: string) => ({ method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
  const bodies: Record<string, string> = {
    'no fields': '',
    'repeated fields': 'email=a%40example.com&email=b%40example.com&password=x&password=y',
    'nested fields': 'email[a]=1&password[b]=2',
    'invalid UTF-8': 'email=%C3%28%FF%FE&password=%80%81',
    'a huge email': `email=${'a'.repeat(5000)}%40example.com`,
    'a body over the limit': `email=${'a'.repeat(20_000)}&password=${'p'.repeat(20_000)}`,
  };

  function expectClientError(status: number, body: string) {
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(500);
    expect(body).not.toMatch(/\n\s+at .+:\d+:\d+/);
    expect(body).not.toContain('node_modules');
  }

  for (const [name, body] of Object.entries(bodies)) {
    it(`forgot-password form with ${name}`, async () => {
      const { ua, page: forgot } = await onForgotPasswordPage();
      const action = new URL(forgot.document.querySelector('form')!.getAttribute('action')!, gatehouse.url).href;
      const response = await ua.request(action, form(body));
      expectClientError(response.status, await response.text());
    });

    it(`reset form with ${name}`, async () => {
      const email = `bad-input-${name.replaceAll(' ', '-').toLowerCase()}@example.com`;
      await gatehouse.addUser(email, oldPassword);
      await askForReset(email);
      const link = await resetLinkFor(email);
      const response = await new UserAgent(gatehouse.url).request(link.href, form(body));
      expectClientError(response.status, await response.text());
      // Still usable afterwards: bad input does not use up the link.
      expect((await new UserAgent(gatehouse.url).page(link.href)).status).toBe(200);
    });
  }

  it('forgot-password outside a sign-in, or in another browser', async () => {
    const { ua, uid } = await onForgotPasswordPage();
    const stranger = new UserAgent(gatehouse.url);
    for (const [agent, url] of [[stranger, `${gatehouse.url}/interaction/${uid}/forgot-password`], [ua, `${gatehouse.url}/interaction/nonsense/forgot-password`]] as const) {
      const got = await agent.request(url);
      expectClientError(got.status, await got.text());
      const posted = await agent.request(url, form('email=alice%40example.com'));
      expectClientError(posted.status, await posted.text());
    }
  });
});
