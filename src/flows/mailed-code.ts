import { message } from '../messages/messages.ts';

/** Why a typed mailed code was refused (libraries/one-time-codes.ts), as the page says it. */
export function describeCodeVerdict(verdict: { reason: 'wrong'; attemptsLeft: number } | { reason: 'exhausted' | 'expired' | 'used' | 'missing' }): string {
  switch (verdict.reason) {
    case 'wrong':
      return verdict.attemptsLeft > 0 ? message('code.wrong', { attemptsLeft: verdict.attemptsLeft }) : message('code.wrong_last');
    case 'exhausted':
      return message('code.exhausted');
    case 'expired':
      return message('code.expired');
    case 'used':
    case 'missing':
      return message('code.void');
  }
}
