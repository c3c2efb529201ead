import { message } from '../../messages/messages.ts';
import type { ViewData } from '../kit.ts';

/** The "check your email" page: the address, whether it may go on, and what happened. */
export function verificationPage(uid: string, input: { email: string; verified: boolean; canSkip: boolean; error?: string | undefined; errors?: { code: string } | undefined; notice?: string | undefined }): ViewData {
  return { title: message('verification.title'), uid, ...input };
}

/** Behind the mailed link: a button (mail scanners open links, and must not use them). */
export function confirmPage(token: string, email: string): ViewData {
  return { title: message('verification.confirm_title'), token, email };
}

export function confirmedPage(email: string): ViewData {
  return { title: message('verification.confirmed_title'), email };
}

/** A link that expired or was used. */
export function linkProblemPage(): ViewData {
  return { title: message('flows.link_no_longer_valid_title'), code: 'invalid_link', description: message('verification.link_invalid') };
}
