import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { z } from 'zod';

import { awaitingSignInCodeSchema, linkIdentitySchema } from './login/state.ts';
import { passkeyRegistrationSchema, pendingRegistrationSchema } from './registration/state.ts';
import { awaitingSecondFactorSchema, secondFactorEnrolledSchema } from './second-factor/state.ts';

/**
 * Where a sign-in stands inside the provider's prompt, beyond what the provider itself knows: one
 * validated object under one key of the interaction's result (kept server-side by oidc-provider,
 * never in the browser). Each flow declares its part in its own state.ts; `step` tells them apart.
 * The interaction adapter indexes the `accountId` found here, so revoking an account's state ends
 * its half-finished sign-ins too (src/oidc/adapter.ts).
 *
 * A passkey ceremony's challenge, and an upstream sign-in in flight (login/connection-rules.ts), are
 * kept next to it, each under a key of its own, and voided by any save of the flow state
 * (passkey-ceremony.ts).
 */
export const flowStateSchema = z.discriminatedUnion('step', [
  pendingRegistrationSchema,
  passkeyRegistrationSchema,
  awaitingSecondFactorSchema,
  awaitingSignInCodeSchema,
  secondFactorEnrolledSchema,
  linkIdentitySchema,
]);

export type FlowState = z.infer<typeof flowStateSchema>;
export type FlowStep = FlowState['step'];
export type FlowStateOf<Step extends FlowStep> = Extract<FlowState, { step: Step }>;

/** The key of the interaction result that holds the flow state. */
export const flowStateKey = 'gatehouse';

/** The flow state of an interaction's result; undefined when there is none or it is malformed. */
export function flowStateOf(result: unknown): FlowState | undefined {
  const parsed = flowStateSchema.safeParse((result as Record<string, unknown> | undefined)?.[flowStateKey]);
  return parsed.success ? parsed.data : undefined;
}

/** The flow state when it is at `step`, else undefined. */
export function flowStateAt<Step extends FlowStep>(result: unknown, step: Step): FlowStateOf<Step> | undefined {
  const state = flowStateOf(result);
  return state?.step === step ? (state as FlowStateOf<Step>) : undefined;
}

/**
 * Stores the flow state of the current interaction (replacing it; `undefined` clears it). `merge`
 * keeps what earlier prompts of the same authorization submitted (the `mfa` prompt after a login).
 */
export async function saveFlowState(provider: Provider, ctx: Context, state: FlowState | undefined, options: { merge?: boolean } = {}): Promise<void> {
  const checked = state === undefined ? {} : { [flowStateKey]: flowStateSchema.parse(state) };
  await provider.interactionResult(ctx.req, ctx.res, checked, { mergeWithLastSubmission: options.merge === true });
}
