import { message } from '../../messages/messages.ts';
import type { MessageId } from '../../messages/messages.ts';
import type { Locale } from '../../messages/locales.ts';
import type { AccountRecord } from '../../store/types.ts';
import { urls } from '../../urls.ts';
import type { ViewData } from '../kit.ts';
import { recoveryCodesPageData, setupPageData } from '../second-factor/view.ts';
import { maxPasskeyNameLength, passkeyRoutes, passwordFormKind } from './passkeys.ts';

/** Problems shown next to their fields, by field id, in the form's order (the layout and `it.invalid` read them). */
export type FieldErrors = Record<string, string>;

/** What the page shows of a passkey (the passkeys library's PasskeySummary has these and more). */
export type PasskeyListing = { id: string; name: string; createdAt: Date; lastUsedAt: Date | null; backedUp: boolean };

const timeFormats = new Map<Locale, Intl.DateTimeFormat>();

/**
 * A time as the account pages show it: to the minute, in UTC (the server does not know the
 * reader's zone; `<time datetime>` carries the instant), written the way the page's language writes dates.
 */
export function shownTime(at: Date, locale: Locale): { iso: string; text: string } {
  let format = timeFormats.get(locale);
  if (!format) {
    format = new Intl.DateTimeFormat(locale, { year: 'numeric', month: 'short', day: 'numeric', hour: 'numeric', minute: '2-digit', timeZone: 'UTC', timeZoneName: 'short' });
    timeFormats.set(locale, format);
  }
  return { iso: at.toISOString(), text: format.format(at) };
}

/** Items as one phrase in the page's language (“a, b and c”; “a、b、c”). */
export function listInWords(items: readonly string[], locale: Locale, type: 'conjunction' | 'unit' = 'conjunction'): string {
  return new Intl.ListFormat(locale, { style: 'long', type }).format(items);
}

/** The passkeys, newest first, in words: name, when added and last used, synced or not. */
export function passkeyRows(passkeys: PasskeyListing[], locale: Locale) {
  return [...passkeys].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime()).map((passkey) => {
    const added = shownTime(passkey.createdAt, locale);
    const used = passkey.lastUsedAt ? shownTime(passkey.lastUsedAt, locale) : undefined;
    return {
      id: passkey.id,
      name: passkey.name || message('account.passkey_default_name', undefined, locale),
      added: { iso: added.iso, text: message('account.passkey_added_at', { when: added.text }, locale) },
      lastUsed: used
        ? { iso: used.iso, text: message('account.passkey_last_used', { when: used.text }, locale) }
        : { iso: undefined, text: message('account.passkey_never_used', undefined, locale) },
      synced: passkey.backedUp,
      state: message(passkey.backedUp ? 'account.passkey_synced' : 'account.passkey_device_only', undefined, locale),
      stateHint: message(passkey.backedUp ? 'account.passkey_synced_hint' : 'account.passkey_device_only_hint', undefined, locale),
    };
  });
}

/** What the page shows of a linked identity (the identities library's LinkedIdentity has these and more). */
export type IdentityListing = { connectionId: string; subject: string; connectionName: string | null; email: string | null; linkedAt: Date; lastUsedAt: Date | null };

/** The identities at other providers, oldest first: the provider, the email it gave, when linked and last used. */
export function identityRows(identities: IdentityListing[], locale: Locale) {
  return [...identities].sort((a, b) => a.linkedAt.getTime() - b.linkedAt.getTime()).map((identity) => {
    const linked = shownTime(identity.linkedAt, locale);
    const used = identity.lastUsedAt ? shownTime(identity.lastUsedAt, locale) : undefined;
    return {
      connectionId: identity.connectionId,
      subject: identity.subject,
      name: identity.connectionName ?? message('account.identity_removed_connection', { id: identity.connectionId }, locale),
      email: identity.email ?? '',
      linked: { iso: linked.iso, text: message('account.identity_linked_at', { when: linked.text }, locale) },
      lastUsed: used
        ? { iso: used.iso, text: message('account.identity_last_used', { when: used.text }, locale) }
        : { iso: undefined, text: message('account.identity_never_used', undefined, locale) },
    };
  });
}

/** Words the page's script shows (it has none of its own): data- attributes of the passkeys section. */
function scriptWords() {
  return {
    unsupported: message('account.passkey_unsupported'),
    cancelled: message('account.passkey_cancelled'),
    alreadyRegistered: message('account.passkey_already_registered'),
    failed: message('account.passkey_failed'),
    working: message('account.passkey_working'),
  };
}

/**
 * The account page: who is signed in, the password form (change it, or set a first one), the
 * second factor's state, the passkeys and the identities at other providers it signs in with. With `adding`, the page is the "Add a passkey" step: the
 * creation options for the page's script, and the form it posts the browser's answer with.
 */
export function accountPage(input: {
  account: AccountRecord;
  factor: { active: true; recoveryCodesLeft: number } | { active: false };
  passkeys: PasskeyListing[];
  /** Identities at other providers linked to the account ("Signed in with"). */
  identities?: IdentityListing[];
  /** Whether the sign-in is recent enough for changes to sign-in factors. */
  fresh: boolean;
  csrf: string;
  minLength: number;
  adding?: { options: unknown } | undefined;
  /** The page's language (dates are written its way). */
  locale: Locale;
  error?: string | undefined;
  /** Field problems, by field id in the page's order (the password form, the code, a passkey's name). */
  errors?: FieldErrors | undefined;
  notice?: string | undefined;
}): ViewData {
  const { account, factor, fresh } = input;
  return {
    mfa: factor.active ? { active: true, recoveryCodesLeft: factor.recoveryCodesLeft, fresh } : { active: false, fresh },
    password: { kind: passwordFormKind(account) },
    identities: { list: identityRows(input.identities ?? [], input.locale), fresh, unlink: urls.accountIdentityUnlink() },
    passkeys: {
      list: passkeyRows(input.passkeys, input.locale),
      fresh,
      urls: passkeyRoutes,
      maxNameLength: maxPasskeyNameLength,
      words: scriptWords(),
      // The options go to the script as a data- attribute (HTML-escaped like any value): no inline script.
      adding: input.adding ? { options: JSON.stringify(input.adding.options) } : undefined,
    },
    // The layout loads these in order (CSP script-src 'self': files of our own origin only): the
    // WebAuthn library first (it sets the global SimpleWebAuthnBrowser), then the page's script.
    scripts: [urls.webauthnBrowser(), urls.script('passkey-account.js')],
    title: message(input.adding ? 'account.passkey_add_title' : 'account.title'),
    email: account.email,
    name: account.profile.name ?? '',
    emailVerified: account.emailVerified,
    csrf: input.csrf,
    minLength: input.minLength,
    error: input.error,
    errors: input.errors,
    notice: input.notice,
  };
}

/** A page of its own (a sign-in that could not finish, say), with the way back to the account page. */
export function accountMessagePage(title: MessageId, paragraph: MessageId): ViewData {
  return { title: message(title), paragraphs: [message(paragraph)], links: [{ href: urls.account(), label: message('account.open_page') }] };
}

/** Setting an authenticator app up from the account page. */
export async function accountSetupPage(enrollment: { secret: string; uri: string }, csrf: string, error?: string): Promise<ViewData> {
  // A refused code is a problem of the code field (views/mfa-setup.eta shows it there).
  return { title: message('account.mfa_setup_title'), action: urls.accountMfaSetup(), csrf, ...(await setupPageData(enrollment)), ...(error ? { errors: { code: error } } : {}) };
}

/** The new recovery codes, shown once. */
export function accountRecoveryCodesPage(email: string, codes: string[], csrf: string): ViewData {
  return { ...recoveryCodesPageData(email, codes), action: urls.accountMfaDone(), csrf, button: message('account.done') };
}
