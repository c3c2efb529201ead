import type { Translation } from './translation.ts';
import { account } from './ja/account.ts';
import { accountProfileEmail } from './ja/account-profile-email.ts';
import { accountSessionsApps } from './ja/account-sessions-apps.ts';
import { branding } from './ja/branding.ts';
import { errors } from './ja/errors.ts';
import { flows } from './ja/flows.ts';
import { layout } from './ja/layout.ts';
import { libraries } from './ja/libraries.ts';
import { mail } from './ja/mail.ts';
import { pagesAccount } from './ja/pages-account.ts';
import { pagesOther } from './ja/pages-other.ts';
import { pagesSignIn } from './ja/pages-sign-in.ts';
import { web } from './ja/web.ts';

/** The translation into ja: every id of en.ts's `people`. */
export const ja: Translation = {
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
