import type { Translation } from './translation.ts';
import { account } from './de/account.ts';
import { accountProfileEmail } from './de/account-profile-email.ts';
import { accountSessionsApps } from './de/account-sessions-apps.ts';
import { branding } from './de/branding.ts';
import { errors } from './de/errors.ts';
import { flows } from './de/flows.ts';
import { layout } from './de/layout.ts';
import { libraries } from './de/libraries.ts';
import { mail } from './de/mail.ts';
import { pagesAccount } from './de/pages-account.ts';
import { pagesOther } from './de/pages-other.ts';
import { pagesSignIn } from './de/pages-sign-in.ts';
import { web } from './de/web.ts';

/** The translation into de: every id of en.ts's `people`. */
export const de: Translation = {
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
