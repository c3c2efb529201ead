import type { Translation } from './translation.ts';
import { account } from './ar/account.ts';
import { accountProfileEmail } from './ar/account-profile-email.ts';
import { accountSessionsApps } from './ar/account-sessions-apps.ts';
import { branding } from './ar/branding.ts';
import { errors } from './ar/errors.ts';
import { flows } from './ar/flows.ts';
import { layout } from './ar/layout.ts';
import { libraries } from './ar/libraries.ts';
import { mail } from './ar/mail.ts';
import { pagesAccount } from './ar/pages-account.ts';
import { pagesOther } from './ar/pages-other.ts';
import { pagesSignIn } from './ar/pages-sign-in.ts';
import { web } from './ar/web.ts';

/** The translation into ar: every id of en.ts's `people`. */
export const ar: Translation = {
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
