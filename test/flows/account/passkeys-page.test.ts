import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { systemClock } from '../../../src/clock.ts';
import { auditLibrary } from '../../../src/libraries/audit.ts';
import { passkeysLibrary } from '../../../src/libraries/passkeys.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import type { MovableClock } from '../../helpers/clock.ts';
import { movableClock } from '../../helpers/clock.ts';
import type { MailSink } from '../../helpers/mail-sink.ts';
import { linkIn, startMailSink } from '../../helpers/mail-sink.ts';
import { SoftwareAuthenticator } from '../../helpers/software-authenticator.ts';
import type { Page } from '../../helpers/user-agent.ts';
import { alertOf, asPage, UserAgent } from '../../helpers/user-agent.ts';
import { fieldProblem as fieldErrorOf } from '../../helpers/field-problems.ts';

/**
 * Passkeys on the account page, over HTTP with a software authenticator (the browser's part is in
 * passkeys-in-browser.test.ts): adding one with a single-use challenge bound to the sign-in,
 * renaming, removing, the fresh sign-in both need, an account without a password, and bad input.
 */

const password = 'correct horse battery staple';

let sink: MailSink;
let gatehouse: TestGatehouse;
let clock: MovableClock;
let counter = 0;

beforeAll(async () => {
  sink = await startMailSink();
  clock = movableClock();
  gatehouse = await startGatehouse({ env: { SMTP_URL: sink.url }, clock });
});

afterAll(async () => {
  await gatehouse?.stop();
  await sink?.close();
});

const audit = () => auditLibrary({ store: gatehouse.store, clock: systemClock });

async function newPerson(name: string): Promise<{ id: string; email: string; password: string }> {
  counter += 1;
  const email = `${name.toLowerCase()}${counter}@example.com`;
  const id = await gatehouse.addUser(email, password, { name: `${name} Example` });
  return { id, email, password };
}

async function signedInAccountPage(person: { email: string; password: string }): Promise<{ ua: UserAgent; account: Page }> {
  const ua = new UserAgent(gatehouse.url);
  const login = asPage(await ua.navigate(`${gatehouse.url}/account`));
  const account = asPage(await ua.submit(login, '/login', person));
  expect(account.url).toBe(`${gatehouse.url}/account`);
  return { ua, account };
}

/** The "Add a passkey" step: its form and the creation options it hands the script. */
async function addStep(ua: UserAgent) {
  const step = asPage(await ua.navigate(`${gatehouse.url}/account/passkeys/new`));
  expect(step.status).toBe(200);
  const form = step.document.querySelector('form#passkey-add');
  if (!form) throw new Error(`no "Add a passkey" form:\n${step.body}`);
  const options = JSON.parse(form.getAttribute('data-passkey-options')!) as Parameters<SoftwareAuthenticator['register']>[0] & { challenge: string };
  return { step, options };
}

async function addPasskey(ua: UserAgent, authenticator: SoftwareAuthenticator, name?: string): Promise<Page> {
  const { step, options } = await addStep(ua);
  return asPage(await ua.submit(step, '/account/passkeys', { response: JSON.stringify(authenticator.register(options)), ...(name !== undefined ? { name } : {}) }));
}

function listed(account: Page) {
  return account.document.querySelectorAll('li.passkey').map((item) => ({
    id: item.getAttribute('data-passkey-id'),
    name: item.querySelector('.passkey-name')?.text.trim(),
    state: item.querySelector('.passkey-state')?.text.trim(),
    text: item.text.replace(/\s+/g, ' ').trim(),
  }));
}

const csrfOf = (page: Page) => page.document.querySelector('input[name=csrf]')!.getAttribute('value')!;
const form = (body: string) => ({ method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded' } });
const noticeOf = (page: Page) => page.document.querySelector('.notice')?.text.trim() ?? '';

/** The signed cookie holding the pending challenge, to send it again after the server cleared it. */
async function pendingCookie(ua: UserAgent): Promise<string> {
  const cookies = await ua.jar.getCookies(`${gatehouse.url}/account/passkeys`);
  const pending = cookies.filter((cookie) => cookie.key.startsWith('gatehouse.account.passkey'));
  expect(pending.map((cookie) => cookie.key).sort()).toEqual(['gatehouse.account.passkey', 'gatehouse.account.passkey.sig']);
  return pending.map((cookie) => cookie.toString()).join('\n');
}

async function restoreCookies(ua: UserAgent, saved: string) {
  for (const line of saved.split('\n')) await ua.jar.setCookie(line, `${gatehouse.url}/account/passkeys`);
}

describe('adding a passkey', () => {
  it('adds it with its name, lists it (synced, never used), and records passkey_added as the person', async () => {
    const person = await newPerson('Ada');
    const { ua, account } = await signedInAccountPage(person);
    expect(account.body).toContain('Passkeys');
    expect(listed(account)).toEqual([]);

    const authenticator = new SoftwareAuthenticator({ origin: gatehouse.url });
    const { step, options } = await addStep(ua);
    expect(step.document.querySelector('h1')?.text).toBe('Add a passkey');
    expect(options).toMatchObject({ rp: { id: '127.0.0.1' }, user: { name: person.email }, attestation: 'none', authenticatorSelection: { residentKey: 'required', userVerification: 'required' } });
    const added = asPage(await ua.submit(step, '/account/passkeys', { response: JSON.stringify(authenticator.register(options)), name: '  Work   laptop ' }));
    expect(added.status).toBe(200);
    expect(noticeOf(added)).toBe('Passkey “Work laptop” added. You can sign in with it now.');
    const [row] = listed(added);
    expect(row).toMatchObject({ id: authenticator.credentials[0]!.id.toString('base64url'), name: 'Work laptop', state: 'Synced' });
    expect(row!.text).toMatch(/Added [A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d\s[AP]M UTC, never used/);

    const events = await audit().tail({ limit: 50, accountId: person.id });
    expect(events.filter((event) => event.type === 'passkey_added')).toEqual([
      expect.objectContaining({ actor: 'user', sourceAddress: '127.0.0.1', details: expect.objectContaining({ passkey_id: row!.id, name: 'Work laptop', backed_up: true }) }),
    ]);

    // Used to sign in (the library the login page calls): the page shows when.
    const passkeys = passkeysLibrary({ store: gatehouse.store, config: gatehouse.config, clock: systemClock });
    const challenge = await passkeys.authenticationOptions({ accountId: person.id, userVerification: 'required' });
    await passkeys.finishAuthentication({ response: authenticator.authenticate(challenge), expectedChallenge: challenge.challenge, accountId: person.id, userVerification: 'required' }, { actor: 'user' });
    const used = asPage(await ua.navigate(`${gatehouse.url}/account`));
    expect(listed(used)[0]!.text).toMatch(/Added [A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d\s[AP]M UTC, last used [A-Z][a-z]{2} \d{1,2}, \d{4}, \d{1,2}:\d\d\s[AP]M UTC/);
    expect(used.document.querySelectorAll('li.passkey time').map((time) => time.getAttribute('datetime'))).toHaveLength(2);
  });

  it('names a passkey added without a name, and shows one bound to its device as "This device only"', async () => {
    const person = await newPerson('Bea');
    const { ua } = await signedInAccountPage(person);
    const added = await addPasskey(ua, new SoftwareAuthenticator({ origin: gatehouse.url, backupEligible: false, backedUp: false }));
    expect(listed(added)).toEqual([expect.objectContaining({ name: expect.stringMatching(/^Passkey added \d{4}-\d\d-\d\d$/), state: 'This device only' })]);
  });

  it('uses a challenge once: the same answer posted again (with the same cookie) adds nothing', async () => {
    const person = await newPerson('Cyd');
    const { ua } = await signedInAccountPage(person);
    const { step, options } = await addStep(ua);
    const saved = await pendingCookie(ua);
    const answer = JSON.stringify(new SoftwareAuthenticator({ origin: gatehouse.url }).register(options));
    expect(asPage(await ua.submit(step, '/account/passkeys', { response: answer })).status).toBe(200);

    // The server cleared the cookie; sent again, the challenge is known to be used.
    const again = asPage(await ua.submit(step, '/account/passkeys', { response: answer }));
    expect(again.status).toBe(400);
    expect(alertOf(again)).toContain('took too long');
    await restoreCookies(ua, saved);
    const replayed = asPage(await ua.submit(step, '/account/passkeys', { response: answer }));
    expect(replayed.status).toBe(400);
    expect(alertOf(replayed)).toBe('This passkey request was already used. Add the passkey again.');
    // Even a fresh answer to that challenge (another authenticator) is refused.
    await restoreCookies(ua, saved);
    const other = asPage(await ua.submit(step, '/account/passkeys', { response: JSON.stringify(new SoftwareAuthenticator({ origin: gatehouse.url }).register(options)) }));
    expect(other.status).toBe(400);
    expect(listed(other)).toHaveLength(1);
    expect((await audit().tail({ limit: 50, accountId: person.id })).filter((event) => event.type === 'passkey_added')).toHaveLength(1);
  });

  it('of two answers to one challenge posted at once, takes exactly one', async () => {
    const person = await newPerson('Cal');
    const { ua } = await signedInAccountPage(person);
    const { step, options } = await addStep(ua);
    const answers = [0, 1].map(() => JSON.stringify(new SoftwareAuthenticator({ origin: gatehouse.url }).register(options)));
    const pages = await Promise.all(answers.map((response) => ua.submit(step, '/account/passkeys', { response }).then(asPage)));
    expect(pages.map((each) => each.status).sort()).toEqual([200, 400]);
    expect(await gatehouse.store.passkeys.listForAccount(person.id)).toHaveLength(1);
  });

  it('refuses a challenge handed out before signing in again, and one handed to someone else', async () => {
    const person = await newPerson('Dov');
    const { ua } = await signedInAccountPage(person);
    const { options } = await addStep(ua);
    const saved = await pendingCookie(ua);

    // Sign in again ("Confirm it's you"): a new sign-in time.
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const current = asPage(await ua.navigate(`${gatehouse.url}/account`));
    const login = asPage(await ua.navigate(`${gatehouse.url}/account/reauthenticate`, form(`csrf=${csrfOf(current)}`)));
    const account = asPage(await ua.submit(login, '/login', person));
    expect(account.url).toBe(`${gatehouse.url}/account`);
    await restoreCookies(ua, saved);
    const finish = (response: unknown) => ua.navigate(`${gatehouse.url}/account/passkeys`, form(new URLSearchParams({ csrf: csrfOf(account), response: JSON.stringify(response) }).toString()));
    const late = asPage(await finish(new SoftwareAuthenticator({ origin: gatehouse.url }).register(options)));
    expect(late.status).toBe(400);
    expect(alertOf(late)).toContain('Add it again');

    // Another person's pending challenge, in this person's browser.
    const mallory = await signedInAccountPage(await newPerson('Mallory'));
    const theirs = await addStep(mallory.ua);
    await restoreCookies(ua, await pendingCookie(mallory.ua));
    const stolen = asPage(await finish(new SoftwareAuthenticator({ origin: gatehouse.url }).register(theirs.options)));
    expect(stolen.status).toBe(400);
    expect(alertOf(stolen)).toContain('Add it again');
    expect(listed(stolen)).toEqual([]);
    expect(await gatehouse.store.passkeys.listForAccount(person.id)).toEqual([]);
  });

  it('refuses an answer that is no passkey’s (400), and that first answer used the challenge up', async () => {
    const person = await newPerson('Ely');
    const { ua } = await signedInAccountPage(person);
    const { step, options } = await addStep(ua);
    const saved = await pendingCookie(ua);
    const garbage = asPage(await ua.submit(step, '/account/passkeys', { response: '{"id":"x"}' }));
    expect(garbage.status).toBe(400);
    expect(alertOf(garbage)).toBe('Your browser did not send a passkey. Try again; if it keeps failing, this browser may not support passkeys.');
    await restoreCookies(ua, saved);
    const after = asPage(await ua.submit(step, '/account/passkeys', { response: JSON.stringify(new SoftwareAuthenticator({ origin: gatehouse.url }).register(options)) }));
    expect(after.status).toBe(400);
    expect(alertOf(after)).toBe('This passkey request was already used. Add the passkey again.');
    expect(await gatehouse.store.passkeys.listForAccount(person.id)).toEqual([]);
  });

  it('refuses with a 400 and a clear message an answer the library does not accept', async () => {
    const person = await newPerson('Eve');
    const { ua } = await signedInAccountPage(person);
    const lies = [
      { origin: 'https://evil.example' },
      { rpId: 'evil.example' },
      { challenge: 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
      { userVerified: false },
      { type: 'webauthn.get' },
    ];
    for (const lie of lies) {
      const { step, options } = await addStep(ua);
      const refused = asPage(await ua.submit(step, '/account/passkeys', { response: JSON.stringify(new SoftwareAuthenticator({ origin: gatehouse.url }).register(options, lie)) }));
      expect(refused.status, JSON.stringify(lie)).toBe(400);
      expect(alertOf(refused), JSON.stringify(lie)).toMatch(/Your passkey could not be checked|did not confirm it is you/);
    }
    expect(await gatehouse.store.passkeys.listForAccount(person.id)).toEqual([]);
  });
});

describe('renaming and removing a passkey', () => {
  it('renames one (audited), refuses an empty or too long name, and another account’s passkey', async () => {
    const person = await newPerson('Finn');
    const { ua } = await signedInAccountPage(person);
    const added = await addPasskey(ua, new SoftwareAuthenticator({ origin: gatehouse.url }), 'Phone');
    const id = listed(added)[0]!.id!;

    const renamed = asPage(await ua.submit(added, '/account/passkeys/rename', { id, name: 'Old phone' }));
    expect(renamed.status).toBe(200);
    expect(noticeOf(renamed)).toBe('Passkey renamed to “Old phone”.');
    expect(listed(renamed)[0]).toMatchObject({ id, name: 'Old phone' });
    expect((await audit().tail({ limit: 50, accountId: person.id })).find((event) => event.type === 'passkey_renamed')).toMatchObject({
      actor: 'user', details: { passkey_id: id, name: 'Old phone' },
    });

    const empty = asPage(await ua.submit(renamed, '/account/passkeys/rename', { id, name: '  ' }));
    expect(empty.status).toBe(400);
    expect(fieldErrorOf(empty, `passkey-name-${id}`)).toBe('Enter a name for the passkey.');
    const long = asPage(await ua.submit(renamed, '/account/passkeys/rename', { id, name: 'x'.repeat(65) }));
    expect(long.status).toBe(400);
    // At that passkey's name field, its Rename section open; no alert above the page.
    expect(fieldErrorOf(long, `passkey-name-${id}`)).toBe('Use at most 64 characters for the name.');
    expect(long.document.querySelector(`li[data-passkey-id="${id}"] details`)?.hasAttribute('open')).toBe(true);
    expect(long.document.querySelector('[role=alert]')).toBeNull();

    const other = await signedInAccountPage(await newPerson('Gus'));
    const foreign = asPage(await other.ua.navigate(`${gatehouse.url}/account/passkeys/rename`, form(`csrf=${csrfOf(other.account)}&id=${id}&name=Mine+now`)));
    expect(foreign.status).toBe(404);
    expect(alertOf(foreign)).toBe('There is no such passkey on this account.');
    expect((await gatehouse.store.passkeys.find(id))?.name).toBe('Old phone');
  });

  it('removes one (audited); another account’s passkey stays', async () => {
    const person = await newPerson('Hal');
    const { ua } = await signedInAccountPage(person);
    await addPasskey(ua, new SoftwareAuthenticator({ origin: gatehouse.url }), 'Laptop');
    const added = await addPasskey(ua, new SoftwareAuthenticator({ origin: gatehouse.url }), 'Key');
    const [key, laptop] = listed(added);
    expect([key!.name, laptop!.name]).toEqual(['Key', 'Laptop']);

    const other = await signedInAccountPage(await newPerson('Ida'));
    const foreign = asPage(await other.ua.navigate(`${gatehouse.url}/account/passkeys/remove`, form(`csrf=${csrfOf(other.account)}&id=${laptop!.id!}`)));
    expect(foreign.status).toBe(404);
    expect(await gatehouse.store.passkeys.find(laptop!.id!)).toBeTruthy();

    const removeForm = (page: Page, id: string) => page.document.querySelectorAll('form').find((each) => each.getAttribute('action') === '/account/passkeys/remove'
      && each.querySelector('input[name=id]')?.getAttribute('value') === id)!;
    expect(removeForm(added, laptop!.id!)).toBeTruthy();
    const removed = asPage(await ua.submit(added, '/account/passkeys/remove', { id: laptop!.id! }));
    expect(removed.status).toBe(200);
    expect(noticeOf(removed)).toBe('Passkey “Laptop” removed.');
    expect(listed(removed).map((row) => row.name)).toEqual(['Key']);
    expect((await audit().tail({ limit: 50, accountId: person.id })).find((event) => event.type === 'passkey_removed')).toMatchObject({
      actor: 'user', details: { passkey_id: laptop!.id, name: 'Laptop' },
    });
    const twice = asPage(await ua.submit(removed, '/account/passkeys/remove', { id: laptop!.id! }));
    expect(twice.status).toBe(404);
  });
});

describe('a sign-in more than five minutes old', () => {
  it('may rename, but not add or remove, until the person signs in again', async () => {
    const person = await newPerson('Jo');
    const { ua } = await signedInAccountPage(person);
    const { step, options } = await addStep(ua);
    const answer = JSON.stringify(new SoftwareAuthenticator({ origin: gatehouse.url }).register(options));
    const added = await addPasskey(ua, new SoftwareAuthenticator({ origin: gatehouse.url }), 'First');
    const id = listed(added)[0]!.id!;

    clock.advance(5 * 60_000 + 2000);
    try {
      const account = asPage(await ua.navigate(`${gatehouse.url}/account`));
      expect(account.body).toContain('To add or remove a passkey, sign in again first.');
      expect(account.document.querySelector('form[action="/account/passkeys/new"]')).toBeNull();
      expect(account.document.querySelector('form[action="/account/passkeys/remove"]')).toBeNull();
      const message = 'For your security, confirm it is you (sign in again) before adding or removing a passkey.';

      const begin = asPage(await ua.navigate(`${gatehouse.url}/account/passkeys/new`));
      expect(begin.status).toBe(403);
      expect(alertOf(begin)).toBe(message);
      const finish = asPage(await ua.submit(step, '/account/passkeys', { response: answer }));
      expect(finish.status).toBe(403);
      expect(alertOf(finish)).toBe(message);
      const remove = await ua.request(`${gatehouse.url}/account/passkeys/remove`, form(`csrf=${csrfOf(account)}&id=${id}`));
      expect(remove.status).toBe(403);
      expect(await remove.text()).toContain(message);
      expect(await gatehouse.store.passkeys.listForAccount(person.id)).toHaveLength(1);

      const renamed = asPage(await ua.submit(account, '/account/passkeys/rename', { id, name: 'Renamed while stale' }));
      expect(renamed.status).toBe(200);
      expect(listed(renamed)[0]!.name).toBe('Renamed while stale');
    } finally {
      clock.rewind();
    }
  });
});

describe('an account without a password (registered with a passkey)', () => {
  it('is offered to set one through a mailed link, and may not remove its last passkey', async () => {
    const person = await newPerson('Kim');
    const { ua } = await signedInAccountPage(person);
    const added = await addPasskey(ua, new SoftwareAuthenticator({ origin: gatehouse.url }), 'Only way in');
    const id = listed(added)[0]!.id!;
    // As a passkey registration leaves it (the page stands on the sign-in it already has).
    await gatehouse.store.accounts.update(person.id, { passwordHash: null });

    const account = asPage(await ua.navigate(`${gatehouse.url}/account`));
    expect(account.body).not.toContain('Current password');
    expect(account.body).toContain('Your account has no password');
    const last = asPage(await ua.submit(account, '/account/passkeys/remove', { id }));
    expect(last.status).toBe(409);
    expect(alertOf(last)).toBe('This passkey is your only way to sign in. Set a password or add another passkey before removing it.');
    expect(await gatehouse.store.passkeys.find(id)).toBeTruthy();

    const sent = asPage(await ua.submit(account, '/account/password', { current_password: 'ignored', new_password: 'ignored too' }));
    expect(sent.status).toBe(200);
    expect(noticeOf(sent)).toContain(`We sent a link to ${person.email}.`);
    const mail = await sink.waitFor((each) => each.to === person.email && /password/i.test(each.subject));
    const link = linkIn(mail, gatehouse.url);
    const resetForm = asPage(await new UserAgent(gatehouse.url).navigate(link.href));
    const chosen = 'a first password for Kim, long enough';
    const done = asPage(await new UserAgent(gatehouse.url).submit(resetForm, '/reset-password/', { password: chosen }));
    expect(done.status).toBe(200);
    expect((await gatehouse.store.accounts.findById(person.id))!.passwordHash).not.toBeNull();
    await signedInAccountPage({ email: person.email, password: chosen });
  });
});

describe('bad input gets a 4xx page, never a 5xx', () => {
  let ua: UserAgent;
  let csrf: string;
  let personId: string;
  let id: string;

  beforeAll(async () => {
    const person = await newPerson('Lou');
    personId = person.id;
    ({ ua } = await signedInAccountPage(person));
    const added = await addPasskey(ua, new SoftwareAuthenticator({ origin: gatehouse.url }), 'Kept');
    csrf = csrfOf(added);
    id = listed(added)[0]!.id!;
  });

  function expectClientError(status: number, body: string) {
    expect(status).toBeGreaterThanOrEqual(400);
    expect(status).toBeLessThan(500);
    expect(body).not.toMatch(/\n\s+at .+:\d+:\d+/);
    expect(body).not.toContain('node_modules');
  }

  const answer = (fields: Record<string, unknown>) => encodeURIComponent(JSON.stringify({ id: 'Y3JlZA', rawId: 'Y3JlZA', type: 'public-key', response: { clientDataJSON: 'e30', attestationObject: 'o2Nm' }, ...fields }));
  const bodies: Record<string, [string, () => string]> = {
    'add: no fields': ['/account/passkeys', () => ''],
    'add: no csrf token': ['/account/passkeys', () => `response=${answer({})}`],
    'add: a wrong csrf token': ['/account/passkeys', () => `csrf=${'A'.repeat(43)}&response=${answer({})}`],
    'add: no response': ['/account/passkeys', () => `csrf=${csrf}&name=x`],
    'add: a response that is not JSON': ['/account/passkeys', () => `csrf=${csrf}&response=%7B%22id`],
    'add: repeated responses': ['/account/passkeys', () => `csrf=${csrf}&response=${answer({})}&response=${answer({})}`],
    'add: nested fields': ['/account/passkeys', () => `csrf=${csrf}&response[id]=1&name[a]=2`],
    'add: invalid UTF-8': ['/account/passkeys', () => `csrf=${csrf}&response=%C3%28%FF%FE&name=%80%81`],
    'add: a forged answer': ['/account/passkeys', () => `csrf=${csrf}&response=${answer({})}`],
    'add: an answer of the wrong types': ['/account/passkeys', () => `csrf=${csrf}&response=${answer({ id: 7, response: { clientDataJSON: [], attestationObject: {} } })}`],
    'add: a name too long': ['/account/passkeys', () => `csrf=${csrf}&name=${'n'.repeat(300)}&response=${answer({})}`],
    'add: a body over the limit': ['/account/passkeys', () => `csrf=${csrf}&response=${'r'.repeat(20_000)}`],
    'rename: no id': ['/account/passkeys/rename', () => `csrf=${csrf}&name=x`],
    'rename: a malformed id': ['/account/passkeys/rename', () => `csrf=${csrf}&id=..%2F..%2Fx&name=x`],
    'rename: repeated ids': ['/account/passkeys/rename', () => `csrf=${csrf}&id=${id}&id=${id}&name=x`],
    'rename: an unknown id': ['/account/passkeys/rename', () => `csrf=${csrf}&id=AAAA&name=x`],
    'rename: no name': ['/account/passkeys/rename', () => `csrf=${csrf}&id=${id}`],
    'rename: nested names': ['/account/passkeys/rename', () => `csrf=${csrf}&id=${id}&name[a]=b`],
    'rename: no csrf token': ['/account/passkeys/rename', () => `id=${id}&name=x`],
    'remove: no id': ['/account/passkeys/remove', () => `csrf=${csrf}`],
    'remove: a huge id': ['/account/passkeys/remove', () => `csrf=${csrf}&id=${'A'.repeat(5000)}`],
    'remove: an unknown id': ['/account/passkeys/remove', () => `csrf=${csrf}&id=AAAA`],
    'remove: no csrf token': ['/account/passkeys/remove', () => `id=${id}`],
  };
  for (const [name, [path, body]] of Object.entries(bodies)) {
    it(name, async () => {
      const response = await ua.request(`${gatehouse.url}${path}`, form(body()));
      expectClientError(response.status, await response.text());
      expect((await gatehouse.store.passkeys.listForAccount(personId)).map((passkey) => [passkey.id, passkey.name])).toEqual([[id, 'Kept']]);
    });
  }

  it('a stranger is sent to sign in, and changes nothing', async () => {
    const stranger = new UserAgent(gatehouse.url);
    const begin = await stranger.request(`${gatehouse.url}/account/passkeys/new`);
    expect([302, 303]).toContain(begin.status);
    expect(begin.headers.get('location')).toMatch(new RegExp(`^${gatehouse.url}/auth\\?`));
    for (const path of ['/account/passkeys', '/account/passkeys/rename', '/account/passkeys/remove']) {
      const response = await stranger.request(`${gatehouse.url}${path}`, form(`csrf=${csrf}&id=${id}&name=x`));
      expect(response.status, path).toBe(303);
    }
    expect((await gatehouse.store.passkeys.listForAccount(personId)).map((passkey) => passkey.name)).toEqual(['Kept']);
  });
});
