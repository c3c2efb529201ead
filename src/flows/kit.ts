import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';

import type { Clock } from '../clock.ts';
import type { Config } from '../config/load-config.ts';
import type { Libraries } from '../libraries/index.ts';
import type { AbuseLimits } from '../limits/abuse-limits.ts';
import type { Logger } from '../logger.ts';

/** What the web layer gives the flows: the address of a fetched client logo on our origin (src/web/client-logo.ts), or undefined. */
export type ClientLogoLookup = { addressFor(clientId: string, logoUri: string): Promise<string | undefined> };

/** The templates in views/ (one per page; mails live in views/mail/). */
export type ViewName = 'sign-in-code' | 'home' | 'login' | 'consent' | 'logout' | 'logged-out' | 'error' | 'register' | 'verify-email' | 'confirm-email' | 'email-confirmed'
  | 'forgot-password' | 'reset-password' | 'message' | 'account' | 'second-factor' | 'mfa-setup' | 'recovery-codes' | 'passkey-registration'
  | 'link-identity' | 'connection-problem' | 'device' | 'device-confirm' | 'device-done'
  | 'account-delete' | 'account-export' | 'pending-deletion'
  | 'account-sessions' | 'account-apps' | 'account-profile' | 'account-email';

/**
 * Page data: every page has a title; the rest is the template's own. `scripts` (addresses from
 * `urls`) are the page's own scripts, loaded by the layout (no inline script anywhere).
 */
export type ViewData = Record<string, unknown> & { title: string; scripts?: string[] };

/** Renders pages (src/web/views.ts): the flows hand it view data, the web layer owns HTML. */
export type PageRenderer = {
  render(ctx: Context, name: ViewName, data: ViewData, status?: number): void;
};

/** The one CSRF scheme (src/web/forms.ts): a keyed token per scope, checked on every POST. */
export type FormProtection = {
  token(scope: string): string;
  /** Puts the scope's token where templates find it and, on POST, checks the submitted one (a 403 page when wrong). */
  protect(ctx: Context, scope: string): void;
  /** Like protect, but answers: false for a POST without the scope's token (the page says so its own way). */
  check(ctx: Context, scope: string): boolean;
};

/**
 * What every flow is built from, once, at start-up (src/app.ts). Flows reach accounts, codes and
 * factors only through the libraries, and HTTP plumbing only through what the web layer hands in.
 */
export type FlowDependencies = {
  /** The provider serving now: it is rebuilt when signing keys change. */
  provider: () => Provider;
  libraries: Libraries;
  views: PageRenderer;
  /** Parses our small url-encoded form bodies (and refuses anything else). */
  form: Middleware;
  forms: FormProtection;
  config: Config;
  limits: AbuseLimits;
  logger: Logger;
  clock: Clock;
  /** Applications' logos served from our origin (src/web/client-logo.ts); absent: pages show none. */
  clientLogos?: ClientLogoLookup;
};
