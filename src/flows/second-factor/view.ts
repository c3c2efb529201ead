import QRCode from 'qrcode';

import { message } from '../../messages/messages.ts';
import { urls } from '../../urls.ts';
import type { ViewData } from '../kit.ts';
import type { PasskeyCeremonyView } from '../passkey-ceremony.ts';
import { ceremonyScripts } from '../passkey-ceremony.ts';

/** A refused second-factor code, in words. */
export function describeVerdict(verdict: { reason: 'wrong' | 'replayed' | 'missing' } | { reason: 'wait'; waitSeconds: number }): string {
  switch (verdict.reason) {
    // One answer for both: telling a used code from a wrong one would confirm to someone replaying
    // an observed code that it was right (the audit trail still records which it was).
    case 'wrong':
    case 'replayed':
      return message('second_factor.wrong_or_used');
    case 'wait':
      return message('second_factor.wait', { seconds: verdict.waitSeconds });
    case 'missing':
      return message('second_factor.none');
  }
}

/** The QR code as inline SVG: drawn here, no image service sees the secret. */
async function qrCodeSvg(uri: string): Promise<string> {
  return QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}

/** What the setup page shows (in a sign-in or on the account page): the QR code and the secret, in groups of four. */
export async function setupPageData(enrollment: { secret: string; uri: string }): Promise<{ qrSvg: string; secret: string }> {
  return { qrSvg: await qrCodeSvg(enrollment.uri), secret: enrollment.secret.replace(/(.{4})/g, '$1 ').trim() };
}

/** What the recovery codes page shows: the codes, once, and the same as a text download. */
export function recoveryCodesPageData(email: string, codes: string[]): ViewData & { codes: string[]; download: string } {
  const text = `${message('second_factor.recovery_codes_file', { email })}\n\n${codes.join('\n')}\n`;
  return { title: message('second_factor.recovery_codes_title'), codes, download: `data:text/plain;charset=utf-8,${encodeURIComponent(text)}` };
}

/**
 * Asking for the second step inside a sign-in: the code of the authenticator app (or a recovery
 * code) when the app is set up, a passkey when the account has one (`passkey`: its ceremony); a
 * person with both chooses.
 */
export function challengePage(uid: string, input: { error?: string | undefined; codeError?: string | undefined; code: boolean; passkey?: PasskeyCeremonyView | undefined }): ViewData {
  // A code's problem is shown at the code field; without one (a passkey-only page), for the whole form.
  const codeError = input.code ? input.codeError : undefined;
  return {
    title: message('second_factor.title'),
    uid,
    error: input.error ?? (input.code ? undefined : input.codeError),
    ...(codeError ? { errors: { code: codeError } } : {}),
    code: input.code,
    ...(input.passkey ? { passkey: input.passkey, scripts: ceremonyScripts() } : {}),
  };
}

/** Setting an authenticator app up inside a sign-in (the `mfa` prompt): the QR code, the secret, and a way out. */
export async function signInSetupPage(uid: string, enrollment: { secret: string; uri: string }, codeError?: string): Promise<ViewData> {
  return {
    title: message('second_factor.setup_title'),
    action: urls.mfaSetup(uid),
    cancel: urls.abort(uid),
    intro: message('second_factor.setup_intro'),
    ...(await setupPageData(enrollment)),
    ...(codeError ? { errors: { code: codeError } } : {}),
  };
}
