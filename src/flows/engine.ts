import { upstreamLifetimeSeconds } from './login/connection-rules.ts';
import type { FlowState } from './state.ts';
import { passwordValidSeconds } from './second-factor/state.ts';

/**
 * The flow engine: which page a sign-in shows, and which form it accepts, as a pure function of
 * the provider's prompt and our flow state. oidc-provider decides the prompts (login, verify_email,
 * mfa, consent); inside the `login` prompt our own steps (a registration waiting for its mailbox or
 * its passkey, a password waiting for its second factor or for a mailed code, an upstream identity
 * waiting for its account's proof) decide the rest.
 */
export type FlowPage = 'login' | 'verification' | 'passkey_registration' | 'second_factor' | 'sign_in_code' | 'link_identity' | 'pending_deletion' | 'consent' | 'unsupported';

/**
 * Forms a sign-in page posts; each is accepted at one page, or (the login page's own: the password,
 * the passkey, another provider, registering, forgetting the password) throughout the login
 * prompt. `second_factor` is the second-factor page's, whichever second step it carries (a code or
 * a passkey); `link_identity` the proof page's own (its mailed code, signing in another way).
 */
export type FlowAction =
  | 'login' | 'passkey' | 'connection' | 'register' | 'forgot_password' | 'abort'
  | 'verification' | 'passkey_registration' | 'second_factor' | 'sign_in_code' | 'link_identity' | 'mfa_setup' | 'pending_deletion' | 'consent';

export type FlowPosition = {
  /** The provider's prompt (`details.prompt.name`). */
  prompt: string;
  state: FlowState | undefined;
  /** Unix seconds, from the injected clock. */
  now: number;
};

/** The page GET /interaction/:uid shows. */
export function pageFor({ prompt, state, now }: FlowPosition): FlowPage {
  switch (prompt) {
    case 'login':
      switch (state?.step) {
        case 'registration':
          return 'verification';
        case 'passkey_registration':
          return 'passkey_registration';
        case 'second_factor':
          // A checked password waits for its code a while; after that, the login starts over.
          return now - state.passwordAt <= passwordValidSeconds ? 'second_factor' : 'login';
        case 'sign_in_code':
          return 'sign_in_code';
        case 'link_identity':
          // The proof page waits as long as an upstream sign-in may take; then the login starts over.
          return now - state.issuedAt <= upstreamLifetimeSeconds ? 'link_identity' : 'login';
        case 'mfa_enrolled':
        case undefined:
          return 'login';
      }
      break;
    case 'verify_email':
      return 'verification';
    case 'mfa':
      return 'second_factor';
    case 'pending_deletion':
      return 'pending_deletion';
    case 'consent':
      return 'consent';
  }
  return 'unsupported';
}

/**
 * Whether a form may be posted now. The login page's forms (sign in, a passkey, another provider,
 * register, forgot password) work throughout the login prompt, so that going back and starting over always works; cancelling
 * works at every step; each other form only at its own page. Setting up a second factor belongs to
 * the `mfa` prompt alone.
 */
export function accepts(action: FlowAction, position: FlowPosition): boolean {
  switch (action) {
    case 'login':
    case 'passkey':
    case 'connection':
    case 'register':
    case 'forgot_password':
      return position.prompt === 'login';
    case 'abort':
      return true;
    case 'mfa_setup':
      return position.prompt === 'mfa';
    case 'verification':
    case 'passkey_registration':
    case 'second_factor':
    case 'sign_in_code':
    case 'link_identity':
    case 'pending_deletion':
    case 'consent':
      return pageFor(position) === action;
  }
}
