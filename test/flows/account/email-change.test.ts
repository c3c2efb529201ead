import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { message } from '../../../src/messages/messages.ts';
import type { MovableClock } from '../../helpers/clock.ts';
import { movableClock } from '../../helpers/clock.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import type { MailSink, SunkMail } from '../../helpers/mail-sink.ts';
import { codeIn, linkIn, startMailSink } from '../../helpers/mail-sink.ts';
import { relyingParty, signIn } from '../../helpers/relying-party.ts';
import type { Page } from '../../helpers/user-agent.ts';
import { isPage, UserAgent } from '../../helpers/user-agent.ts';
import { fieldProblem as fieldErrorOf } from '../../helpers/field-problems.ts';

const password = 'correct horse battery staple';

let sink: MailSink;
let gatehouse: TestGatehouse;
let rp: client.Configuration;
let clock: MovableClock;
let counter = 0;

beforeAll(async () => {
  sink = await startMailSink();
  clock = movableClock();
  gatehouse = await startGatehouse({ env: { SMTP_URL: sink.url }, clock });
  rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Email change test app' }));
});

afterAll(async () => {
  await gatehouse?.stop();
  await sink?.close();
});

async function newPerson(name: string): Promise<{ id: string; email: string; password: string }> {
  counter += 1;
  const email = `${name.toLowerCase()}${counter}@example.com`;
  const id = await gatehouse.addUser(email, password, { name: `${name} Example` });
  return { id, email, password };
}

function page(result: Page | { redirectedTo: string }): Page {
  if (!isPage(result)) throw new Error(`expected a page, was redirected to ${result.redirectedTo}`);
  return result;
}

async function tokenError(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
  } catch (error) {
    return (error as { error?: string }).error ?? (error as Error).message;
  }
  return undefined;
}

/** Opens /account/email, signing in on the login page if one appears. */
async function openEmailPage(ua: UserAgent, credentials?: { email: string; password: string }): Promise<Page> {
  let current = page(await ua.navigate(`${gatehouse.url}/account`));
  if (current.document.querySelector('form[action$="/login"]')) {
    if (!credentials) throw new Error('the account page asked to sign in');
    current = page(await ua.submit(current, '/login', credentials));
  }
  expect(current.url).toBe(`${gatehouse.url}/account`);
  const email = page(await ua.navigate(`${gatehouse.url}/account/email`));
  expect(email.status).toBe(200);
  return email;
}

const mailTo = (to: string, subject: RegExp) => sink.waitFor((mail) => mail.to === to && subject.test(mail.subject));

/** The page without what differs from one request to the next (form tokens, the addresses typed). */
function shape(body: string, ...addresses: string[]): string {
  let result = body.replace(/name="csrf" value="[^"]*"/g, 'name="csrf" value=""');
  for (const address of addresses) result = result.replaceAll(address, '<address>');
  return result;
}

describe('changing the email address from the account page', () => {
  it('by the code: the address changes, other sessions and their tokens end, the old address is told', async () => {
    const person = await newPerson('Amara');
    const elsewhere = await signIn(gatehouse, rp, person, { scope: 'openid offline_access email', prompt: 'consent' });
    const here = await signIn(gatehouse, rp, person, { scope: 'openid offline_access email', prompt: 'consent' });
    const emailPage = await openEmailPage(here.ua);
    expect(emailPage.body).toContain(person.email);

    const newEmail = `amara.new${counter}@example.com`;
    const asked = page(await here.ua.submit(emailPage, '/account/email', { email: newEmail, current_password: password }));
    expect(asked.url).toBe(`${gatehouse.url}/account/email`);
    expect(asked.body).toContain(`We sent a code and a link to ${newEmail}`);
    const mail = await mailTo(newEmail, /Confirm your new email address/);
    // Nothing changes before the new address is proved.
    expect((await gatehouse.store.accounts.findById(person.id))?.email).toBe(person.email);

    const wrong = page(await here.ua.submit(asked, '/account/email/code', { code: codeIn(mail) === '000000' ? '111111' : '000000' }));
    expect(wrong.status).toBe(400);
    expect(fieldErrorOf(wrong, 'code')).toBe('That code is not right. 4 tries left.');

    const done = page(await here.ua.submit(wrong, '/account/email/code', { code: codeIn(mail) }));
    expect(done.status).toBe(200);
    expect(done.body).toContain(`Your email address is now ${newEmail}.`);
    const stored = (await gatehouse.store.accounts.findById(person.id))!;
    expect(stored.email).toBe(newEmail);
    expect(stored.emailVerified).toBe(true);

    // The old address is told, with an undo link.
    const told = await mailTo(person.email, /email address of your account was changed/);
    expect(told.text).toContain(newEmail);
    expect(linkIn(told, gatehouse.url).pathname).toMatch(/^\/account\/email\/undo\//);

    // Sessions elsewhere ended with their tokens; this one stays.
    expect(await tokenError(client.refreshTokenGrant(rp, elsewhere.tokens.refresh_token!))).toBe('invalid_grant');
    expect((await here.ua.request(`${gatehouse.url}/account/email`)).status).toBe(200);
    expect((await client.refreshTokenGrant(rp, here.tokens.refresh_token!)).access_token).toEqual(expect.any(String));

    // The relying party sees the new address at userinfo, and in the ID token when it asks for it there.
    const again = await signIn(gatehouse, rp, { email: newEmail, password }, { scope: 'openid email', claims: JSON.stringify({ id_token: { email: null, email_verified: null } }) });
    expect(again.tokens.claims()).toMatchObject({ sub: person.id, email: newEmail, email_verified: true });
    const userinfo = await client.fetchUserInfo(rp, again.tokens.access_token, person.id);
    expect(userinfo).toMatchObject({ email: newEmail, email_verified: true });

    const events = await gatehouse.store.audit.tail({ limit: 50, accountId: person.id });
    expect(events.find((event) => event.type === 'email_change_requested')).toMatchObject({ actor: 'user', details: { new_email: newEmail } });
    expect(events.find((event) => event.type === 'email_changed')).toMatchObject({ actor: 'user', details: { email: newEmail, previous_email: person.email } });
  });

  it('by the link: its page asks before it acts; the undo link restores the address and leads to a new password', async () => {
    const person = await newPerson('Bashir');
    const ua = new UserAgent(gatehouse.url);
    const emailPage = await openEmailPage(ua, person);
    const newEmail = `bashir.new${counter}@example.com`;
    await ua.submit(emailPage, '/account/email', { email: newEmail, current_password: password });
    const link = linkIn(await mailTo(newEmail, /Confirm your new email address/), gatehouse.url);

    // Opened in another browser (a phone's mail app): a page with a button; opening it changes nothing.
    const phone = new UserAgent(gatehouse.url);
    const confirm = page(await phone.navigate(link.href));
    expect(confirm.status).toBe(200);
    expect(confirm.body).toContain(`Confirm that ${newEmail} becomes the address of your account.`);
    expect((await gatehouse.store.accounts.findById(person.id))?.email).toBe(person.email);
    const changed = page(await phone.submit(confirm, '/account/email/confirm/'));
    expect(changed.status).toBe(200);
    expect(changed.body).toContain(`Your account now uses ${newEmail}.`);
    expect((await gatehouse.store.accounts.findById(person.id))?.email).toBe(newEmail);
    // Used once.
    expect(page(await phone.navigate(link.href)).status).toBe(410);

    // The old address undoes it.
    const undoLink = linkIn(await mailTo(person.email, /email address of your account was changed/), gatehouse.url);
    const owner = new UserAgent(gatehouse.url);
    const undoPage = page(await owner.navigate(undoLink.href));
    expect(undoPage.body).toContain(`Your account will use ${person.email} again`);
    expect((await gatehouse.store.accounts.findById(person.id))?.email).toBe(newEmail);
    const reset = page(await owner.submit(undoPage, '/account/email/undo/'));
    expect(reset.url).toMatch(new RegExp(`^${gatehouse.url}/reset-password/`));
    expect(reset.document.querySelector('input[name=password]')).not.toBeNull();
    const restored = (await gatehouse.store.accounts.findById(person.id))!;
    expect(restored.email).toBe(person.email);
    expect(restored.emailVerified).toBe(true);
    // Every session ended: the first browser's account page asks to sign in again.
    const signedOut = await ua.request(`${gatehouse.url}/account/email`);
    expect(signedOut.status).toBe(302);
    expect((await gatehouse.store.audit.tail({ limit: 50, accountId: person.id })).map((event) => event.type)).toContain('email_change_undone');

    // A new password through the page the undo led to.
    const newPassword = 'lantern orchestra tugboat violet';
    const set = page(await owner.submit(reset, '/reset-password/', { password: newPassword }));
    expect(set.status).toBe(200);
    await signIn(gatehouse, rp, { email: person.email, password: newPassword });
  });

  it('answers a taken address exactly as a free one; its owner is told instead and no code works', async () => {
    const person = await newPerson('Chen');
    const owner = await newPerson('Dana');
    const free = `chen.free${counter}@example.com`;
    const ua = new UserAgent(gatehouse.url);
    const emailPage = await openEmailPage(ua, person);

    const forFree = await ua.request(`${gatehouse.url}/account/email`, {
      method: 'POST', body: new URLSearchParams({ csrf: emailPage.document.querySelector('input[name=csrf]')!.getAttribute('value')!, email: free, current_password: password }),
    });
    const freePage = page(await ua.navigate(`${gatehouse.url}/account/email`));
    await ua.submit(freePage, '/account/email/cancel');
    const again = page(await ua.navigate(`${gatehouse.url}/account/email`));
    const forTaken = await ua.request(`${gatehouse.url}/account/email`, {
      method: 'POST', body: new URLSearchParams({ csrf: again.document.querySelector('input[name=csrf]')!.getAttribute('value')!, email: owner.email.toUpperCase(), current_password: password }),
    });
    const takenPage = page(await ua.navigate(`${gatehouse.url}/account/email`));

    expect(forTaken.status).toBe(forFree.status);
    expect(forTaken.headers.get('location')).toBe(forFree.headers.get('location'));
    expect(shape(takenPage.body, owner.email)).toBe(shape(freePage.body, free));

    // One mail each: the code to the free address; to the taken one, a notice to its owner.
    await mailTo(free, /Confirm your new email address/);
    const notice = await mailTo(owner.email, /Someone tried to use your email address/);
    expect(notice.text).not.toMatch(/\b\d{6}\b/);
    expect(sink.to(owner.email).filter((mail: SunkMail) => /Confirm your new email address/.test(mail.subject))).toEqual([]);

    // A code typed for the taken address is judged like a wrong one, and nothing changes.
    const typed = page(await ua.submit(takenPage, '/account/email/code', { code: '123456' }));
    expect(typed.status).toBe(400);
    expect(typed.body).toContain('That code is not right. 4 tries left.');
    expect((await gatehouse.store.accounts.findById(person.id))?.email).toBe(person.email);
    expect((await gatehouse.store.accounts.findById(owner.id))?.email).toBe(owner.email);
  });

  it('refuses a wrong password, no email address and the same address, at their fields, mailing nothing', async () => {
    const person = await newPerson('Emeka');
    const ua = new UserAgent(gatehouse.url);
    const emailPage = await openEmailPage(ua, person);
    const target = `emeka.target${counter}@example.com`;

    const wrongPassword = page(await ua.submit(emailPage, '/account/email', { email: target, current_password: 'not my password at all' }));
    expect(wrongPassword.status).toBe(400);
    expect(fieldErrorOf(wrongPassword, 'current_password')).toBe('That is not your current password.');
    expect(wrongPassword.document.querySelector('#email')?.getAttribute('value')).toBe(target);

    const notAnAddress = page(await ua.submit(emailPage, '/account/email', { email: 'not an address', current_password: password }));
    expect(notAnAddress.status).toBe(400);
    // The library's problem at the field, in words without the internal "email: " in front.
    expect(fieldErrorOf(notAnAddress, 'email')).toBe(message('libraries.invalid_email'));

    const same = page(await ua.submit(emailPage, '/account/email', { email: person.email.toUpperCase(), current_password: password }));
    expect(same.status).toBe(400);
    expect(fieldErrorOf(same, 'email')).toBe(message('libraries.email_change_same_address'));

    const expired = page(await ua.submit(emailPage, '/account/email', { email: target, current_password: password, csrf: 'forged' }));
    expect(expired.status).toBe(403);
    expect(sink.to(target)).toEqual([]);
  });

  it('limits the requests per account', async () => {
    const person = await newPerson('Farah');
    const ua = new UserAgent(gatehouse.url);
    let current = await openEmailPage(ua, person);
    for (let index = 0; index < 5; index += 1) {
      const asked = page(await ua.submit(current, '/account/email', { email: `farah.${index}.${counter}@example.com`, current_password: password }));
      expect(asked.status).toBe(200);
      current = page(await ua.submit(asked, '/account/email/cancel'));
    }
    const refused = page(await ua.submit(current, '/account/email', { email: `farah.last${counter}@example.com`, current_password: password }));
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.body).toContain('Too many email change requests');
  });

  it('limits the requests per source address too', async () => {
    const limited = await startGatehouse({ adjust: (config) => ({ ...config, limits: { ...config.limits, emailChanges: { perSourcePerHour: 3, perAccountPerHour: 100 } } }) });
    try {
      const statuses: number[] = [];
      for (let index = 0; index < 4; index += 1) {
        // A different account each time: the source is what is counted.
        const email = `source${index}.${counter}@example.com`;
        await limited.addUser(email, password);
        const ua = new UserAgent(limited.url);
        let current = page(await ua.navigate(`${limited.url}/account`));
        current = page(await ua.submit(current, '/login', { email, password }));
        current = page(await ua.navigate(`${limited.url}/account/email`));
        const asked = page(await ua.submit(current, '/account/email', { email: `other${index}.${counter}@example.com`, current_password: password }));
        statuses.push(asked.status);
      }
      expect(statuses).toEqual([200, 200, 200, 429]);
    } finally {
      await limited.stop();
    }
  });

  it('of a confirmation and a registration of the same address at once, exactly one account gets it', async () => {
    for (let round = 0; round < 3; round += 1) {
      const person = await newPerson('Gaspard');
      const ua = new UserAgent(gatehouse.url);
      const emailPage = await openEmailPage(ua, person);
      const contested = `contested${round}.${counter}@example.com`;
      const asked = page(await ua.submit(emailPage, '/account/email', { email: contested, current_password: password }));
      const code = codeIn(await mailTo(contested, /Confirm your new email address/));

      const [confirmed, registered] = await Promise.allSettled([
        ua.submit(asked, '/account/email/code', { code }).then(page),
        gatehouse.addUser(contested, password),
      ]);
      const holders = (await gatehouse.store.accounts.list()).filter((account) => account.email.toLowerCase() === contested);
      expect(holders).toHaveLength(1);
      if (holders[0]!.id === person.id) {
        expect(registered.status).toBe('rejected');
      } else {
        expect(confirmed.status === 'fulfilled' && confirmed.value.status).toBe(409);
        expect((await gatehouse.store.accounts.findById(person.id))?.email).toBe(person.email);
      }
    }
  });

  it('an undo also voids a change asked meanwhile: its link no longer works', async () => {
    const person = await newPerson('Ines');
    const ua = new UserAgent(gatehouse.url);
    const emailPage = await openEmailPage(ua, person);
    const taken = `ines.taken${counter}@example.com`;
    const asked = page(await ua.submit(emailPage, '/account/email', { email: taken, current_password: password }));
    await ua.submit(asked, '/account/email/code', { code: codeIn(await mailTo(taken, /Confirm your new email address/)) });
    // Whoever changed it asks for another change at once, and keeps its link.
    const next = `ines.next${counter}@example.com`;
    const again = page(await ua.navigate(`${gatehouse.url}/account/email`));
    await ua.submit(again, '/account/email', { email: next, current_password: password });
    const pendingLink = linkIn(await mailTo(next, /Confirm your new email address/), gatehouse.url);

    const undoLink = linkIn(await mailTo(person.email, /email address of your account was changed/), gatehouse.url);
    const owner = new UserAgent(gatehouse.url);
    await owner.submit(page(await owner.navigate(undoLink.href)), '/account/email/undo/');
    expect((await gatehouse.store.accounts.findById(person.id))?.email).toBe(person.email);

    expect(page(await new UserAgent(gatehouse.url).navigate(pendingLink.href)).status).toBe(410);
    expect((await gatehouse.store.accounts.findById(person.id))?.email).toBe(person.email);
  });

  it('an account without a password asks with a recent sign-in instead', async () => {
    const person = await newPerson('Kalani');
    const ua = new UserAgent(gatehouse.url);
    await openEmailPage(ua, person);
    // As if it had registered with a passkey: no password to type.
    await gatehouse.store.accounts.update(person.id, { passwordHash: null });
    const fresh = page(await ua.navigate(`${gatehouse.url}/account/email`));
    expect(fresh.document.querySelector('#current_password')).toBeNull();
    const newEmail = `kalani.new${counter}@example.com`;
    const asked = page(await ua.submit(fresh, '/account/email', { email: newEmail }));
    expect(asked.body).toContain(`We sent a code and a link to ${newEmail}`);
    await ua.submit(asked, '/account/email/cancel');

    clock.advance(6 * 60_000);
    try {
      const stale = page(await ua.navigate(`${gatehouse.url}/account/email`));
      expect(stale.body).toContain('Sign in again');
      const refused = await ua.request(`${gatehouse.url}/account/email`, {
        method: 'POST', body: new URLSearchParams({ csrf: stale.document.querySelector('input[name=csrf]')!.getAttribute('value')!, email: `kalani.late${counter}@example.com` }),
      });
      expect(refused.status).toBe(403);
      expect(await refused.text()).toContain('Confirm it is you: sign in again');
      expect(sink.to(`kalani.late${counter}@example.com`)).toEqual([]);
    } finally {
      clock.rewind();
    }
  });

  it('answers bad input with a 4xx, never a 500', async () => {
    const person = await newPerson('Jun');
    const ua = new UserAgent(gatehouse.url);
    const emailPage = await openEmailPage(ua, person);
    const csrf = emailPage.document.querySelector('input[name=csrf]')!.getAttribute('value')!;
    const post = (path: string, body: string) => ua.request(`${gatehouse.url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    const answers = [
      await post('/account/email', `csrf=${csrf}&email=a%40example.com&email=b%40example.com&current_password=${encodeURIComponent(password)}`),
      await post('/account/email', `csrf=${csrf}&email=${'x'.repeat(5000)}%40example.com&current_password=x`),
      await post('/account/email/code', `csrf=${csrf}&code=1&code=2`),
      await post('/account/email/code', `csrf=${csrf}&code=%00%FF`),
      await post('/account/profile', `csrf=${csrf}&name=a&name=b&birthdate[x]=1`),
      await new UserAgent(gatehouse.url).request(`${gatehouse.url}/account/email/confirm/${'A'.repeat(3000)}`),
      await new UserAgent(gatehouse.url).request(`${gatehouse.url}/account/email/confirm/%E0%A4%A`),
      await new UserAgent(gatehouse.url).request(`${gatehouse.url}/account/email/undo/..%2F..%2Fetc`),
      await post('/account/email/undo/whatever', 'csrf=forged'),
      await post('/account/email/confirm/whatever', ''),
    ];
    for (const answer of answers) {
      expect(answer.status, answer.url).toBeGreaterThanOrEqual(400);
      expect(answer.status, answer.url).toBeLessThan(500);
    }
    expect((await gatehouse.store.accounts.findById(person.id))?.email).toBe(person.email);
  });

  it('an undo link lives the configured days', async () => {
    const person = await newPerson('Hana');
    const ua = new UserAgent(gatehouse.url);
    const emailPage = await openEmailPage(ua, person);
    const newEmail = `hana.new${counter}@example.com`;
    const asked = page(await ua.submit(emailPage, '/account/email', { email: newEmail, current_password: password }));
    await ua.submit(asked, '/account/email/code', { code: codeIn(await mailTo(newEmail, /Confirm your new email address/)) });
    const undoLink = linkIn(await mailTo(person.email, /email address of your account was changed/), gatehouse.url);

    clock.advance(7 * 86_400_000 + 60_000);
    try {
      const late = page(await new UserAgent(gatehouse.url).navigate(undoLink.href));
      expect(late.status).toBe(410);
      expect(late.body).toContain('This link has expired or was already used.');
      expect((await gatehouse.store.accounts.findById(person.id))?.email).toBe(newEmail);
    } finally {
      clock.rewind();
    }
  });
});
