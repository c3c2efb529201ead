import { message } from '../../messages/messages.ts';
import type { MessageId } from '../../messages/messages.ts';
import type { AccountRecord } from '../../store/types.ts';
import { urls } from '../../urls.ts';
import type { ViewData } from '../kit.ts';
import { recoveryCodesPageData, setupPageData } from '../second-factor/view.ts';

/** The account page: who is signed in, the second factor's state, and the password form. */
export function accountPage(input: {
  account: AccountRecord;
  factor: { active: true; recoveryCodesLeft: number } | { active: false };
  /** Whether the sign-in is recent enough for changes to sign-in factors. */
  fresh: boolean;
  csrf: string;
  minLength: number;
  error?: string | undefined;
  notice?: string | undefined;
}): ViewData {
  const { account, factor, fresh } = input;
  return {
    mfa: factor.active ? { active: true, recoveryCodesLeft: factor.recoveryCodesLeft, fresh } : { active: false, fresh },
    title: message('account.title'),
    email: account.email,
    name: account.profile.name ?? '',
    emailVerified: account.emailVerified,
    csrf: input.csrf,
    minLength: input.minLength,
    error: input.error,
    notice: input.notice,
  };
}

/** A page of its own (a sign-in that could not finish, say), with the way back to the account page. */
export function accountMessagePage(title: MessageId, paragraph: MessageId): ViewData {
  return { title: message(title), paragraphs: [message(paragraph)], links: [{ href: urls.account(), label: message('account.open_page') }] };
}

/** Setting an authenticator app up from the account page. */
export async function accountSetupPage(enrollment: { secret: string; uri: string }, csrf: string, error?: string): Promise<ViewData> {
  return { title: message('account.mfa_setup_title'), action: urls.accountMfaSetup(), csrf, ...(await setupPageData(enrollment)), error };
}

/** The new recovery codes, shown once. */
export function accountRecoveryCodesPage(email: string, codes: string[], csrf: string): ViewData {
  return { ...recoveryCodesPageData(email, codes), action: urls.accountMfaDone(), csrf, button: message('account.done') };
}
