import { maxPasswordBytes } from '../../libraries/password-policy.ts';
import { message } from '../../messages/messages.ts';
import { urls } from '../../urls.ts';
import type { ViewData } from '../kit.ts';

/** "Forgot password?": the form, or (`sent`) the page that says a link is on its way — the same for every address. */
export function requestPage(uid: string, minutes: number, extra: { email?: string; error?: string; errors?: { email: string }; sent?: boolean } = {}): ViewData {
  return {
    title: message(extra.sent ? 'recovery.sent_title' : 'recovery.title'),
    uid,
    email: extra.email ?? '',
    error: extra.error,
    errors: extra.errors,
    sent: extra.sent === true,
    minutes,
  };
}

/** Behind the mailed link: the new password's form. */
export function resetFormPage(token: string, email: string, minLength: number, problem: { error?: string; errors?: { password: string } } = {}): ViewData {
  return { title: message('recovery.new_password_title'), token, email, error: problem.error, errors: problem.errors, minLength, maxPasswordBytes };
}

/** A link that expired, was used or was replaced. */
export function invalidLinkPage(): ViewData {
  return { title: message('flows.link_no_longer_valid_title'), paragraphs: [message('recovery.link_invalid'), message('recovery.link_invalid_hint')] };
}

/** Done: nobody is signed in by a reset; signing in again goes through every step a login requires. */
export function changedPage(): ViewData {
  return {
    title: message('recovery.changed_title'),
    paragraphs: [message('recovery.changed_signed_out'), message('recovery.changed_sign_in_again')],
    links: [{ href: urls.account(), label: message('recovery.open_account_page') }],
  };
}
