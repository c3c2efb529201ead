import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { fieldName, problemsByField, profileFields, profilePatchFrom, profileValues } from '../../../src/flows/account/profile.ts';
import { message } from '../../../src/messages/messages.ts';
import type { MovableClock } from '../../helpers/clock.ts';
import { movableClock } from '../../helpers/clock.ts';
import type { TestGatehouse } from '../../helpers/gatehouse.ts';
import { startGatehouse } from '../../helpers/gatehouse.ts';
import { relyingParty, signIn } from '../../helpers/relying-party.ts';
import type { Page } from '../../helpers/user-agent.ts';
import { isPage, UserAgent } from '../../helpers/user-agent.ts';
import { fieldProblem as fieldErrorOf } from '../../helpers/field-problems.ts';

const password = 'correct horse battery staple';

let gatehouse: TestGatehouse;
let clock: MovableClock;
let rp: client.Configuration;
let counter = 0;

beforeAll(async () => {
  clock = movableClock();
  gatehouse = await startGatehouse({ clock });
  rp = await relyingParty(gatehouse, await gatehouse.addClient({ name: 'Profile test app' }));
});

afterAll(async () => {
  await gatehouse?.stop();
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

async function openProfile(ua: UserAgent, credentials: { email: string; password: string }): Promise<Page> {
  let current = page(await ua.navigate(`${gatehouse.url}/account`));
  if (current.document.querySelector('form[action$="/login"]')) current = page(await ua.submit(current, '/login', credentials));
  expect(current.body).toContain('href="/account/profile"');
  const profile = page(await ua.navigate(`${gatehouse.url}/account/profile`));
  expect(profile.status).toBe(200);
  return profile;
}

/** Every field of the form as shown, by name. */
function formValues(profile: Page): Record<string, string> {
  const values: Record<string, string> = {};
  for (const name of profileFields.map(fieldName)) {
    const element = profile.document.querySelector(`#${name}`);
    if (!element) throw new Error(`no field ${name}`);
    values[name] = element.tagName === 'TEXTAREA' ? element.textContent : (element.getAttribute('value') ?? '');
  }
  return values;
}

describe('the profile page', () => {
  it('needs a sign-in', async () => {
    const response = await new UserAgent(gatehouse.url).request(`${gatehouse.url}/account/profile`);
    expect(response.status).toBe(302);
    expect(new URL(response.headers.get('location')!).pathname).toBe('/auth');
  });

  it('saves every field, removes emptied ones, and the relying party sees it with a newer updated_at', async () => {
    const person = await newPerson('Ingrid');
    const ua = new UserAgent(gatehouse.url);
    const profile = await openProfile(ua, person);
    expect(formValues(profile)).toMatchObject({ name: 'Ingrid Example', given_name: '', address_locality: '' });
    const before = (await gatehouse.store.accounts.findById(person.id))!;
    clock.advance(5_000); // updated_at counts seconds

    const saved = page(await ua.submit(profile, '/account/profile', {
      ...formValues(profile),
      name: 'Ingrid Q. Example', given_name: ' Ingrid ', family_name: 'Example', nickname: 'Inge', preferred_username: 'inge',
      website: 'https://ingrid.example', birthdate: '0000-02-29', zoneinfo: 'Europe/Oslo', locale: 'nb-NO',
      phone_number: '+47 22 00 00 00', address_street_address: 'Storgata 1\r\n\r\nLeilighet 2', address_locality: 'Oslo', address_country: 'Norway',
    }));
    expect(saved.status).toBe(200);
    expect(saved.body).toContain('Your profile was saved.');
    const after = (await gatehouse.store.accounts.findById(person.id))!;
    expect(after.profile).toEqual({
      name: 'Ingrid Q. Example', given_name: 'Ingrid', family_name: 'Example', nickname: 'Inge', preferred_username: 'inge',
      website: 'https://ingrid.example', birthdate: '0000-02-29', zoneinfo: 'Europe/Oslo', locale: 'nb-NO',
      // A new number is not verified: the person cannot say it is.
      phone_number: '+4722000000', phone_number_verified: false,
      address: { street_address: 'Storgata 1\nLeilighet 2', locality: 'Oslo', country: 'Norway' },
    });
    expect(after.profileUpdatedAt.getTime()).toBeGreaterThan(before.profileUpdatedAt.getTime());
    // The page shows what was stored.
    expect(formValues(saved)).toMatchObject({ given_name: 'Ingrid', phone_number: '+4722000000', address_street_address: 'Storgata 1\nLeilighet 2' });
    expect(saved.body).toContain('Not verified');

    const event = (await gatehouse.store.audit.tail({ limit: 20, accountId: person.id })).find((entry) => entry.type === 'profile_updated');
    expect(event).toMatchObject({ actor: 'user', details: { changed: expect.arrayContaining(['name', 'given_name', 'phone_number', 'address.locality']) } });

    const { tokens } = await signIn(gatehouse, rp, person, { scope: 'openid profile phone address' });
    const claims = await client.fetchUserInfo(rp, tokens.access_token, person.id);
    expect(claims).toMatchObject({ name: 'Ingrid Q. Example', nickname: 'Inge', phone_number: '+4722000000', phone_number_verified: false, address: { locality: 'Oslo' } });
    expect(claims.updated_at).toBe(Math.floor(after.profileUpdatedAt.getTime() / 1000));

    // Emptying a field removes its claim; sending nothing changed says so.
    const emptied = page(await ua.submit(saved, '/account/profile', { ...formValues(saved), nickname: '', address_street_address: '', address_locality: '', address_country: '' }));
    expect(emptied.body).toContain('Your profile was saved.');
    const stored = (await gatehouse.store.accounts.findById(person.id))!.profile;
    expect(stored.nickname).toBeUndefined();
    expect(stored.address).toBeUndefined();
    const unchanged = page(await ua.submit(emptied, '/account/profile', formValues(emptied)));
    expect(unchanged.body).toContain('Nothing changed.');
  });

  it('shows each problem at its field, keeps what was typed, and saves nothing', async () => {
    const person = await newPerson('Jonas');
    const ua = new UserAgent(gatehouse.url);
    const profile = await openProfile(ua, person);
    const refused = page(await ua.submit(profile, '/account/profile', {
      ...formValues(profile), name: 'Jonas Typed', birthdate: '1990-02-30', website: 'javascript:alert(1)', zoneinfo: 'Mars/Olympus', address_locality: 'Bergen',
    }));
    expect(refused.status).toBe(400);
    // The first problem in the form's order (website) takes the focus and names the page's title.
    expect(fieldErrorOf(refused, 'website')).toBe(message('libraries.profile_url'));
    for (const name of ['birthdate', 'website', 'zoneinfo']) {
      const input = refused.document.querySelector(`#${name}`)!;
      expect(input.getAttribute('aria-invalid'), name).toBe('true');
      expect(input.getAttribute('aria-describedby')?.split(' '), name).toContain(`${name}-error`);
      // Each problem in words, without the field's internal name in front.
      expect(refused.document.querySelector(`#${name}-error`)?.text.trim(), name).not.toMatch(new RegExp(`^${name}\\b|^\\w+: `));
    }
    expect(refused.document.querySelector('#birthdate-error')?.text.trim()).toBe(message('libraries.profile_birthdate'));
    // A hint stays tied to its field next to the problem.
    expect(refused.document.querySelector('#zoneinfo')?.getAttribute('aria-describedby')?.split(' ')).toEqual(['zoneinfo-error', 'zoneinfo-hint']);
    expect(refused.document.querySelector('[role=alert]')).toBeNull();
    expect(refused.document.querySelector('#name')?.hasAttribute('aria-invalid')).toBe(false);
    expect(formValues(refused)).toMatchObject({ name: 'Jonas Typed', birthdate: '1990-02-30', website: 'javascript:alert(1)', address_locality: 'Bergen' });
    expect((await gatehouse.store.accounts.findById(person.id))!.profile).toEqual({ name: 'Jonas Example' });
  });

  it('ignores a verified flag for the phone number and refuses a forged form', async () => {
    const person = await newPerson('Kofi');
    const ua = new UserAgent(gatehouse.url);
    const profile = await openProfile(ua, person);
    expect(profile.document.querySelector('[name=phone_number_verified]')).toBeNull();
    const saved = page(await ua.submit(profile, '/account/profile', { ...formValues(profile), phone_number: '+233 30 000 0000', phone_number_verified: 'true' }));
    expect(saved.status).toBe(200);
    expect((await gatehouse.store.accounts.findById(person.id))!.profile.phone_number_verified).toBe(false);

    const forged = page(await ua.submit(saved, '/account/profile', { ...formValues(saved), name: 'Someone Else', csrf: 'forged' }));
    expect(forged.status).toBe(403);
    expect((await gatehouse.store.accounts.findById(person.id))!.profile.name).toBe('Kofi Example');
  });
});

describe('the profile form, as data', () => {
  it('maps fields to a patch and back, address parts included', () => {
    expect(profileValues({ name: 'A', address: { locality: 'Oslo' } })).toMatchObject({ name: 'A', address_locality: 'Oslo', given_name: '' });
    const { patch, values, repeated } = profilePatchFrom({ name: 'A', address_locality: 'Oslo', nickname: ['x', 'y'], unknown: 'ignored', phone_number_verified: 'true' });
    expect(patch).toEqual({ name: 'A', address: { locality: 'Oslo' } });
    expect(values).toEqual({ name: 'A', address_locality: 'Oslo' });
    expect(repeated).toEqual(['nickname']);
    expect(problemsByField([{ path: ['address', 'locality'], message: 'bad' }, { path: ['birthdate'], message: 'worse' }, { path: ['birthdate'], message: 'second' }]))
      .toEqual({ address_locality: 'bad', birthdate: 'worse' });
  });
});
