import type { Translation } from './translation.ts';
import { account } from './es/account.ts';
import { accountProfileEmail } from './es/account-profile-email.ts';
import { accountSessionsApps } from './es/account-sessions-apps.ts';
import { branding } from './es/branding.ts';
import { errors } from './es/errors.ts';
import { flows } from './es/flows.ts';
import { layout } from './es/layout.ts';
import { libraries } from './es/libraries.ts';
import { mail } from './es/mail.ts';
import { pagesAccount } from './es/pages-account.ts';
import { pagesOther } from './es/pages-other.ts';
import { pagesSignIn } from './es/pages-sign-in.ts';
import { web } from './es/web.ts';

/** The translation into es: every id of en.ts's `people`. */
export const es: Translation = {
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
