import type { Context, Middleware } from 'koa';
import type { ErrorOut, KoaContextWithOIDC, UnknownObject } from 'oidc-provider';

import type { AbuseLimits } from '../limits/abuse-limits.ts';
import type { ClientRecord } from '../store/types.ts';

/**
 * The person's side of the device flow (RFC 8628 §3.3): the page at /device where they type the
 * code their device shows, the page where they check which device asks for what and approve or
 * deny, and the pages after it. oidc-provider runs the steps (its code_verification and
 * device_resume routes; the sign-in between them is our normal interaction); here is what its
 * three page hooks (features.deviceFlow in configuration.ts) hand the web layer, which draws them
 * (src/web/provider-pages.ts), and the limit on guessing codes.
 */

/** The provider's own form fields: where the code goes, and its CSRF token (kept in the provider's session). */
export type DeviceCodeForm = { action: string; xsrf: string };

/** Why the code page is shown again. */
export type UserCodeProblem = 'wrong_code' | 'missing_code' | 'expired_code' | 'used_code' | 'failed';

export type DeviceCodeInput = {
  form: DeviceCodeForm;
  /** The code to show in the field: typed before (after a problem), or from verification_uri_complete. */
  userCode?: string;
  problem?: UserCodeProblem;
  /** For `failed`: the protocol error's code (shown as such). */
  error?: string;
  status: number;
};

/** Who vouches for the client (as the consent page says it: src/flows/consent/view.ts ClientOrigin). */
export type DeviceClientOrigin = 'operator' | 'self_registered' | 'metadata_document';

export type DeviceCodeConfirm = {
  form: DeviceCodeForm;
  /** The code as the device shows it (with its dash). */
  userCode: string;
  client: { clientId: string; clientName: string; origin: DeviceClientOrigin; logoUri?: string; policyUri?: string; tosUri?: string };
  /** The scopes the device asked for, as requested (the web layer puts them in words). */
  scopes: string[];
  /** The APIs (resource indicators) it asked for. */
  resources: string[];
  /** What the device's own request looked like: its address and User-Agent, as the provider recorded them. */
  device: { address?: string; userAgent?: string };
};

export type DeviceDone = { outcome: 'approved' | 'denied'; clientName?: string };

/** The device flow's pages, drawn by the web layer (part of ProviderPages in configuration.ts). */
export type DevicePages = {
  deviceCodeInput(ctx: KoaContextWithOIDC, page: DeviceCodeInput): Promise<void>;
  deviceCodeConfirm(ctx: KoaContextWithOIDC, page: DeviceCodeConfirm): Promise<void>;
  deviceDone(ctx: KoaContextWithOIDC, page: DeviceDone): Promise<void>;
  /** Too many wrong codes from this source: the code page with the wait, 429. */
  deviceCodeLimited(ctx: Context, retryAfterSeconds: number): Promise<void>;
};

/** Where the person types the code (the provider's code_verification route) and where the device polls. */
export const devicePaths = { verification: '/device', authorization: '/device/auth' } as const;

/** What a wrong code, a refusal and the rest leave for the limit in front (ctx.state). */
const outcomeKey = 'gatehouseUserCode';
/** A code from verification_uri_complete, taken off the query to be shown in the field (ctx.state). */
const prefillKey = 'gatehouseUserCodePrefill';

type Outcome = UserCodeProblem | 'found';

function noteOutcome(ctx: Context, outcome: Outcome): void {
  (ctx.state as Record<string, unknown>)[outcomeKey] = outcome;
}

function outcomeOf(ctx: Context): Outcome | undefined {
  return (ctx.state as Record<string, Outcome | undefined>)[outcomeKey];
}

/**
 * A code as people type it, in the form the provider keeps: letters upper case, everything else
 * (spaces, dashes, dots) dropped. The provider normalises the same way; this is for showing it.
 */
export function normalizeUserCode(typed: string): string {
  return typed.toUpperCase().replace(/[^A-Z0-9]/g, '');
}

/** The code split for reading aloud, as the mask shows it (`****-****`). */
export function displayUserCode(typed: string, mask = '****-****'): string {
  const chars = [...normalizeUserCode(typed)];
  if (chars.length !== mask.split('*').length - 1) return normalizeUserCode(typed);
  return [...mask].map((part) => (part === '*' ? chars.shift() : part)).join('');
}

function formOf(ctx: KoaContextWithOIDC): DeviceCodeForm {
  const session = ctx.oidc.session as unknown as { state?: { secret?: string } } | undefined;
  return { action: ctx.oidc.urlFor('code_verification'), xsrf: session?.state?.secret ?? '' };
}

/** Which problem an error of the code page is (the provider's ReRenderError classes, by name). */
function problemOf(err: Error | undefined): UserCodeProblem | 'denied' | undefined {
  switch (err?.name) {
    case undefined: return undefined;
    case 'NotFoundError': return 'wrong_code';
    case 'NoCodeError': return 'missing_code';
    case 'ExpiredError': return 'expired_code';
    case 'AlreadyUsedError': return 'used_code';
    case 'AbortedError': return 'denied';
    default: return 'failed';
  }
}

/**
 * features.deviceFlow.userCodeInputSource: the code page, first or again after a problem. A denial
 * (the person's Deny here or at consent, or a cancelled sign-in) ends on the denial page.
 */
export async function showUserCodeInput(ctx: KoaContextWithOIDC, pages: DevicePages, out: ErrorOut | undefined, err: Error | undefined): Promise<void> {
  const problem = problemOf(err);
  if (problem === 'denied') {
    noteOutcome(ctx, 'found');
    const clientName = ctx.oidc.client?.clientName;
    return pages.deviceDone(ctx, { outcome: 'denied', ...(clientName ? { clientName } : {}) });
  }
  if (problem) noteOutcome(ctx, problem);
  const typed = (err as { userCode?: unknown } | undefined)?.userCode ?? (ctx.state as Record<string, unknown>)[prefillKey];
  // A wrong, missing, expired or used code is the person's mistake (400); other errors keep theirs.
  const status = problem === 'failed' ? Math.max(ctx.status, 400) : problem ? 400 : 200;
  return pages.deviceCodeInput(ctx, {
    form: formOf(ctx),
    ...(typeof typed === 'string' && typed ? { userCode: displayUserCode(typed.slice(0, 64)) } : {}),
    ...(problem ? { problem } : {}),
    ...(problem === 'failed' && out?.error ? { error: out.error } : {}),
    status,
  });
}

/** features.deviceFlow.userCodeConfirmSource: which device asks for what; approve or deny. */
export async function showUserCodeConfirm(
  ctx: KoaContextWithOIDC,
  pages: DevicePages,
  clients: { find(clientId: string): Promise<ClientRecord | undefined> },
  client: { clientId: string; clientName?: string | undefined; logoUri?: string | undefined; policyUri?: string | undefined; tosUri?: string | undefined },
  deviceInfo: UnknownObject,
  userCode: string,
): Promise<void> {
  noteOutcome(ctx, 'found');
  const params = ((ctx.oidc.entities as { DeviceCode?: { params?: UnknownObject } }).DeviceCode?.params ?? {}) as UnknownObject;
  const scope = typeof params.scope === 'string' ? params.scope : '';
  const resource = params.resource;
  const resources = (Array.isArray(resource) ? resource : [resource]).filter((value): value is string => typeof value === 'string');
  const origin: DeviceClientOrigin = client.clientId.startsWith('https://') ? 'metadata_document'
    : (await clients.find(client.clientId).catch(() => undefined))?.dynamic ? 'self_registered' : 'operator';
  const text = (value: unknown, max: number) => (typeof value === 'string' && value ? value.slice(0, max) : undefined);
  const address = text(deviceInfo.ip, 64);
  const userAgent = text(deviceInfo.ua, 200);
  const links = { logoUri: client.logoUri, policyUri: client.policyUri, tosUri: client.tosUri };
  return pages.deviceCodeConfirm(ctx, {
    form: formOf(ctx),
    userCode: displayUserCode(userCode),
    client: {
      clientId: client.clientId, clientName: client.clientName ?? client.clientId, origin,
      ...Object.fromEntries(Object.entries(links).filter(([, value]) => typeof value === 'string')),
    },
    scopes: [...new Set(scope.split(' ').filter(Boolean))],
    resources,
    device: { ...(address ? { address } : {}), ...(userAgent ? { userAgent } : {}) },
  });
}

/** features.deviceFlow.successSource: signed in and approved; the device gets its tokens at its next poll. */
export async function showDeviceSuccess(ctx: KoaContextWithOIDC, pages: DevicePages): Promise<void> {
  const clientName = ctx.oidc.client?.clientName;
  return pages.deviceDone(ctx, { outcome: 'approved', ...(clientName ? { clientName } : {}) });
}

/**
 * In front of the provider's /device:
 *
 * - GET with `user_code` (verification_uri_complete): the provider would post the code at once
 *   with an inline script. Instead the code is taken off the query and shown in the field, and the
 *   person continues from there (then checks it against the device on the next page).
 * - POST: a typed code is an attempt, reserved per source before the provider looks it up
 *   (abuse-limits.ts `userCodeAttempt`: free failures, then doubling waits; a burst gets no more
 *   than the free ones). A code that was not found is a failure; anything else gives it back.
 *   There is no limit across sources: it would let one source lock everybody out of device
 *   sign-in, and with 20^8 possible codes alive for 10 minutes guessing needs billions of tries.
 */
export function userCodeLimits(limits: Pick<AbuseLimits, 'userCodeAttempt'>, pages: Pick<DevicePages, 'deviceCodeLimited'>): Middleware {
  return async (ctx, next) => {
    if (ctx.path !== devicePaths.verification) return next();
    if (ctx.method === 'GET' && typeof ctx.query.user_code === 'string') {
      (ctx.state as Record<string, unknown>)[prefillKey] = ctx.query.user_code.slice(0, 64);
      ctx.querystring = '';
      return next();
    }
    if (ctx.method !== 'POST') return next();
    const admission = await limits.userCodeAttempt(ctx.ip);
    if (!admission.ok) return pages.deviceCodeLimited(ctx, admission.retryAfterSeconds);
    try {
      await next();
    } catch (error) {
      await admission.attempt.cancel();
      throw error;
    }
    await (outcomeOf(ctx) === 'wrong_code' ? admission.attempt.failed() : admission.attempt.cancel());
  };
}
