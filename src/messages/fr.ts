import type { Translation } from './translation.ts';
import { account } from './fr/account.ts';
import { accountProfileEmail } from './fr/account-profile-email.ts';
import { accountSessionsApps } from './fr/account-sessions-apps.ts';
import { branding } from './fr/branding.ts';
import { errors } from './fr/errors.ts';
import { flows } from './fr/flows.ts';
import { layout } from './fr/layout.ts';
import { libraries } from './fr/libraries.ts';
import { mail } from './fr/mail.ts';
import { pagesAccount } from './fr/pages-account.ts';
import { pagesOther } from './fr/pages-other.ts';
import { pagesSignIn } from './fr/pages-sign-in.ts';
import { web } from './fr/web.ts';

/** The translation into fr: every id of en.ts's `people`. */
export const fr: Translation = {
  ...errors,
  ...flows,
  ...account,
  ...accountProfileEmail,
  ...accountSessionsApps,
  ...libraries,
  ...web,
  ...layout,
  ...mail,
  ...pagesSignIn,
  ...pagesOther,
  ...pagesAccount,
  ...branding,
};
