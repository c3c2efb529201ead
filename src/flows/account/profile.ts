import type Router from '@koa/router';
import type { Context } from 'koa';

import type { ProfilePatch } from '../../libraries/accounts.ts';
import { issuesOf } from '../../libraries/validation.ts';
import { message } from '../../messages/messages.ts';
import type { ProfileClaims } from '../../store/types.ts';
import type { ViewData } from '../kit.ts';
import type { AccountPage, SignedIn } from './page.ts';
import { formScope, personAt, signedIn, startSignIn } from './page.ts';

/**
 * The account centre's profile (/account/profile): the person edits their name and the other
 * profile claims Gatehouse keeps (OpenID Connect Core §5.1), saved through
 * `libraries.accounts.updateProfile`, which validates every claim, records `profile_updated` and
 * moves `updated_at`. A field left empty removes its claim. Problems are shown at their fields
 * (aria-invalid, aria-describedby) with everything typed kept. Whether the phone number is verified
 * is not the person's to say: a new number is unverified (the library's rule).
 */

export const profileRoutes = { page: '/account/profile' } as const;

/** The form's fields: the claim each edits (address parts under `address.`), in the order shown. */
export const profileFields: readonly string[] = [
  'name', 'given_name', 'middle_name', 'family_name', 'nickname', 'preferred_username',
  'profile', 'picture', 'website', 'gender', 'birthdate', 'zoneinfo', 'locale', 'phone_number',
  'address.street_address', 'address.locality', 'address.region', 'address.postal_code', 'address.country',
];

/** A field's form name: the claim, with `address.` written `address_` (an id must not hold a dot for CSS). */
export function fieldName(claim: string): string {
  return claim.replace('.', '_');
}

/** The profile's values as the form shows them: text, empty when absent. */
export function profileValues(profile: ProfileClaims): Record<string, string> {
  const values: Record<string, string> = {};
  const address = (profile.address ?? {}) as Record<string, unknown>;
  for (const claim of profileFields) {
    const value = claim.startsWith('address.') ? address[claim.slice('address.'.length)] : (profile as Record<string, unknown>)[claim];
    values[fieldName(claim)] = typeof value === 'string' ? value : '';
  }
  return values;
}

/**
 * The patch a submitted form asks for: every field as typed (empty removes the claim; the library
 * trims and checks). A field sent twice is a problem at that field; one not sent is left alone.
 */
export function profilePatchFrom(body: Record<string, unknown>): { patch: ProfilePatch; values: Record<string, string>; repeated: string[] } {
  const patch: Record<string, unknown> = {};
  const address: Record<string, unknown> = {};
  const values: Record<string, string> = {};
  const repeated: string[] = [];
  for (const claim of profileFields) {
    const name = fieldName(claim);
    const value = body[name];
    if (value === undefined) continue;
    if (typeof value !== 'string') {
      repeated.push(name);
      continue;
    }
    values[name] = value;
    if (claim.startsWith('address.')) address[claim.slice('address.'.length)] = value;
    else patch[claim] = value;
  }
  if (Object.keys(address).length) patch.address = address;
  return { patch: patch as ProfilePatch, values, repeated };
}

/** The library's problems by form field (`address.locality` is the field address_locality). */
export function problemsByField(issues: ReadonlyArray<{ path: readonly (string | number)[]; message: string }>): Record<string, string> {
  const problems: Record<string, string> = {};
  for (const issue of issues) {
    const name = fieldName(issue.path.filter((part) => typeof part === 'string').slice(0, 2).join('.'));
    problems[name] ??= issue.message;
  }
  return problems;
}

export function profilePage(input: {
  account: SignedIn['account']; values: Record<string, string>; problems?: Record<string, string>; csrf: string; error?: string; notice?: string;
}): ViewData {
  const { account } = input;
  const phoneVerified = account.profile.phone_number ? account.profile.phone_number_verified === true : undefined;
  // The problems in the form's order: the layout's title names the first, and focus lands on it.
  const errors: Record<string, string> = {};
  for (const claim of profileFields) {
    const problem = input.problems?.[fieldName(claim)];
    if (problem) errors[fieldName(claim)] = problem;
  }
  const first = Object.keys(errors)[0];
  // A problem no field of the form shows (none is expected) is said above the form rather than lost.
  const unplaced = Object.entries(input.problems ?? {}).filter(([name]) => !(name in errors)).map(([, problem]) => problem);
  const fields = Object.fromEntries(profileFields.map((claim) => {
    const name = fieldName(claim);
    return [name, { id: name, value: input.values[name] ?? '', error: errors[name], first: name === first }];
  }));
  return {
    title: message('account.profile_title'),
    email: account.email,
    fields,
    phoneVerified,
    action: profileRoutes.page,
    emailPage: '/account/email',
    csrf: input.csrf,
    error: input.error ?? (unplaced.length ? unplaced.join(' ') : undefined),
    ...(first ? { errors } : {}),
    notice: input.notice,
  };
}

function render(page: AccountPage, ctx: Context, current: SignedIn, extra: { values?: Record<string, string>; problems?: Record<string, string>; error?: string; notice?: string } = {}, status = 200) {
  page.views.render(ctx, 'account-profile', profilePage({
    account: current.account,
    values: { ...profileValues(current.account.profile), ...extra.values },
    ...(extra.problems ? { problems: extra.problems } : {}),
    csrf: page.forms.token(formScope(current.session)),
    ...(extra.error ? { error: extra.error } : {}),
    ...(extra.notice ? { notice: extra.notice } : {}),
  }), status);
}

export function registerProfileRoutes(router: Router, page: AccountPage): void {
  router.get(profileRoutes.page, async (ctx) => {
    const current = await signedIn(page, ctx);
    if (!current) return startSignIn(page, ctx);
    render(page, ctx, current);
  });

  router.post(profileRoutes.page, page.form, async (ctx) => {
    const current = await signedIn(page, ctx);
    if (!current) {
      ctx.status = 303;
      return ctx.redirect(profileRoutes.page);
    }
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    const { patch, values, repeated } = profilePatchFrom(body);
    if (!page.forms.check(ctx, formScope(current.session))) {
      return render(page, ctx, current, { values, error: message('account.form_expired') }, 403);
    }
    if (repeated.length) {
      const problems = Object.fromEntries(repeated.map((name) => [name, message('libraries.fill_in_once_as_text')]));
      return render(page, ctx, current, { values, problems }, 400);
    }
    try {
      const { account, changed } = await page.libraries.accounts.updateProfile(current.account.id, patch, personAt(ctx));
      render(page, ctx, { ...current, account }, { notice: message(changed.length ? 'account.profile_saved' : 'account.profile_unchanged') });
    } catch (error) {
      const issues = issuesOf(error);
      if (!issues) throw error;
      render(page, ctx, current, { values, problems: problemsByField(issues) }, 400);
    }
  });
}
