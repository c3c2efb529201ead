import { account } from './en/account.ts';
import { apply } from './en/apply.ts';
import { branding } from './en/branding.ts';
import { accountProfileEmail } from './en/account-profile-email.ts';
import { accountSessionsApps } from './en/account-sessions-apps.ts';
import { pagesAccount } from './en/pages-account.ts';
import { cli } from './en/cli.ts';
import { flows } from './en/flows.ts';
import { layout } from './en/layout.ts';
import { mail } from './en/mail.ts';
import { pagesOther } from './en/pages-other.ts';
import { pagesSignIn } from './en/pages-sign-in.ts';
import { libraries } from './en/libraries.ts';
import { managementApi } from './en/management-api.ts';
import { operations } from './en/operations.ts';
import { web } from './en/web.ts';
import { webhooks } from './en/webhooks.ts';

/**
 * English, the catalog every other language follows. ICU message syntax: `{name}` inserts a value,
 * `{n, plural, one {…} other {…}}` picks the form, `'{'` is a literal brace. Ids are grouped by
 * where they are read; each group lives in en/ next to this file.
 */
/** What people signing in read: every page and every mail. Each shipped language has all of these. */
export const people = {
  // The words for an error when nothing more precise is known, by its code.
  'error.not_found': 'There is no page at this address.',
  'error.internal': 'Something went wrong on our side. Try again in a moment.',
  // A line of problems found by a schema, already in words ("email: Invalid email address; …").
  'error.problems': '{problems}',
  ...flows,
  ...account,
  ...accountProfileEmail,
  ...accountSessionsApps,
  ...pagesAccount,
  ...libraries,
  ...web,
  ...pagesOther,
  ...pagesSignIn,
  ...layout,
  ...mail,
  ...branding,
} as const satisfies Record<string, string>;

/**
 * What operators read: the command line, start-up and configuration errors, the management API's
 * problems, configuration-as-code and webhooks. English only, like the logs they sit next to.
 */
export const operators = {
  ...cli,
  ...operations,
  ...apply,
  ...managementApi,
  ...webhooks,
} as const satisfies Record<string, string>;

export const en = { ...people, ...operators } as const satisfies Record<string, string>;
