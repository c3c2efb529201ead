import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';

import { ZxcvbnFactory } from '@zxcvbn-ts/core';
import type { ZxcvbnResult } from '@zxcvbn-ts/core';
import type * as LanguageCommon from '@zxcvbn-ts/language-common';

import { GatehouseError } from '../errors.ts';
import { configDefaults } from '../config/load-config.ts';
import { message } from '../messages/messages.ts';

const require = createRequire(import.meta.url);

/**
 * Password policy after NIST SP 800-63B and OWASP ASVS 5: a length range, a blocklist of common,
 * guessable and personal passwords, and nothing else (no composition rules, no expiry).
 */
export type PasswordPolicyOptions = {
  /** Fewest Unicode code points. NIST asks for 15 when the password is the only factor. */
  minLength: number;
  /** Most UTF-8 bytes after NFKC; raised to 256 if lower so that 64 characters always fit. */
  maxBytes: number;
  /** Product name users must not build their password on. */
  serviceName: string;
};

/** Longest password accepted, in UTF-8 bytes: generous for passphrases, bounded against abuse. */
export const maxPasswordBytes = 1024;

export const defaultPasswordPolicy: PasswordPolicyOptions = { minLength: configDefaults().passwords.minLength, maxBytes: maxPasswordBytes, serviceName: 'Gatehouse' };

export type PolicyVerdict =
  | { ok: true }
  | { ok: false; code: 'too_short' | 'too_long' | 'common' | 'context' | 'repetitive'; reason: string };

/**
 * Reject when zxcvbn estimates fewer than 10^8 guesses (its score 3 starts there). That catches
 * every list entry with a suffix ("password1", "Password123"), runs and sequences, while a random
 * 8-character string (exactly 10^8) and word passphrases pass.
 */
export const minGuessesLog10 = 8;

// zxcvbn's cost grows quickly with length (100-250 ms at 256 characters). Weak patterns show in the
// first 100 characters; beyond that a password is long enough.
const estimatedCodePoints = 100;

// ASVS: at least 64 characters must be accepted, and a character takes up to 4 UTF-8 bytes.
const maxBytesFloor = 64 * 4;

// Built on first use: ranking the dictionaries takes ~80 ms we don't want at import time, and
// their data (~16 MiB) is loaded only where passwords are checked: the policy's worker thread.
let estimator: ZxcvbnFactory | undefined;

function estimate(password: string, userInputs: string[]): ZxcvbnResult {
  estimator ??= (() => {
    const { adjacencyGraphs, dictionary } = require('@zxcvbn-ts/language-common') as typeof LanguageCommon;
    return new ZxcvbnFactory({
      dictionary,
      graphs: adjacencyGraphs,
      // The default (100) makes symbol-heavy passwords take ~100 ms; real l33t words need few.
      l33tMaxSubstitutions: 20,
    });
  })();
  return estimator.check(password, userInputs);
}

export function checkPasswordPolicy(
  password: string,
  context: { email?: string; name?: string },
  options: PasswordPolicyOptions = defaultPasswordPolicy,
): PolicyVerdict {
  // Callers pass request bodies: don't trust the types at runtime.
  const normalized = typeof password === 'string' ? password.normalize('NFKC') : '';

  const length = countCodePoints(normalized);
  if (length < options.minLength) {
    return fail('too_short', message('libraries.policy_too_short', { min: options.minLength }));
  }

  // Before zxcvbn, so that a huge input costs nothing more than this count.
  const maxBytes = Math.max(options.maxBytes, maxBytesFloor);
  if (Buffer.byteLength(normalized, 'utf8') > maxBytes) {
    return fail('too_long', message('libraries.policy_too_long', { max: maxBytes }));
  }

  const words = contextWords(context ?? {}, options.serviceName);
  const contextReason = message('libraries.policy_context', { service: options.serviceName });

  const result = estimate(firstCodePoints(normalized, estimatedCodePoints), words.inputs);
  if (result.guessesLog10 < minGuessesLog10) {
    const [only] = result.sequence;
    if (result.sequence.length === 1 && only && ['repeat', 'sequence', 'spatial'].includes(only.pattern)) {
      return fail('repetitive', message('libraries.policy_repetitive'));
    }
    // Weak because of a personal word: say so rather than calling it common.
    if (result.sequence.some((match) => match.pattern === 'dictionary' && match.dictionaryName === 'userInputs')) {
      return fail('context', contextReason);
    }
    return fail('common', message('libraries.policy_common'));
  }

  // zxcvbn accepts a personal word padded with enough symbols ("alice#8$2!9&4%"); we don't.
  if (mostlyContextWords(normalized, words.letters)) return fail('context', contextReason);

  return { ok: true };
}

/**
 * checkPasswordPolicy on a worker thread, one password at a time: the estimate costs up to ~50 ms
 * (100 characters of symbols), which on the main thread would stall every other request. Callers
 * on request paths use this; the estimate's input is bounded too (the first 100 code points, and
 * nothing at all past maxBytes), so each job's cost is bounded and the queue is bounded by the
 * limits on the forms that submit new passwords (src/limits/).
 */
export function checkPasswordPolicyAsync(
  password: string,
  context: { email?: string; name?: string },
  options: PasswordPolicyOptions = defaultPasswordPolicy,
): Promise<PolicyVerdict> {
  const input = typeof password === 'string' ? password : '';
  // Cheap refusals need no thread: too short, or longer than anything we would estimate anyway.
  const normalized = input.normalize('NFKC');
  if (countCodePoints(normalized) < options.minLength || Buffer.byteLength(normalized, 'utf8') > Math.max(options.maxBytes, maxBytesFloor)) {
    return Promise.resolve(checkPasswordPolicy(input, context, options));
  }
  const cleanContext = {
    ...(typeof context?.email === 'string' ? { email: context.email } : {}),
    ...(typeof context?.name === 'string' ? { name: context.name } : {}),
  };
  // Worded here, in the request's language: the thread has no request, so its words are English.
  return policyThread().check(input, cleanContext, options).then((verdict) => (verdict.ok ? verdict : fail(verdict.code, reasonFor(verdict.code, options))));
}

/** Why the policy refuses a password, in words (in the language of the request being served). */
function reasonFor(code: Exclude<PolicyVerdict, { ok: true }>['code'], options: PasswordPolicyOptions): string {
  switch (code) {
    case 'too_short': return message('libraries.policy_too_short', { min: options.minLength });
    case 'too_long': return message('libraries.policy_too_long', { max: Math.max(options.maxBytes, maxBytesFloor) });
    case 'context': return message('libraries.policy_context', { service: options.serviceName });
    case 'repetitive': return message('libraries.policy_repetitive');
    case 'common': return message('libraries.policy_common');
  }
}

type Pending = { resolve: (verdict: PolicyVerdict) => void; reject: (error: Error) => void };
type PolicyThread = { check: (password: string, context: { email?: string; name?: string }, options: PasswordPolicyOptions) => Promise<PolicyVerdict> };
let thread: PolicyThread | undefined;

/**
 * How long the policy's thread stays after its last check. It holds the ranked dictionaries (about
 * 45 MiB of resident memory) and passwords are set rarely (registration, reset, change), so it is
 * started when one is set and stops once idle; the next check starts it again (tens of ms).
 */
let threadIdleMs = 60_000;

/** For tests: how long an idle policy thread stays; whether one is running now. */
export const policyThreadForTests = {
  setIdleMs(ms: number): void {
    threadIdleMs = ms;
  },
  running: (): boolean => thread !== undefined,
};

function policyThread(): PolicyThread {
  if (thread) return thread;
  const worker = new Worker(new URL('./password-policy-worker.ts', import.meta.url));
  const pending = new Map<number, Pending>();
  let next = 0;
  let idleTimer: NodeJS.Timeout | undefined;
  let retiring = false;
  const fault = (error: Error) => {
    if (thread === current) thread = undefined;
    clearTimeout(idleTimer);
    for (const job of pending.values()) job.reject(error);
    pending.clear();
  };
  worker.on('message', (reply: { id: number; verdict?: PolicyVerdict; error?: string }) => {
    const job = pending.get(reply.id);
    if (!job) return;
    pending.delete(reply.id);
    if (pending.size === 0) {
      worker.unref();
      idleTimer = setTimeout(() => {
        if (pending.size > 0) return;
        // Retired: the next check starts a new thread.
        retiring = true;
        if (thread === current) thread = undefined;
        void worker.terminate();
      }, threadIdleMs);
      idleTimer.unref();
    }
    if (reply.verdict) job.resolve(reply.verdict);
    else job.reject(new GatehouseError('internal', 'libraries.policy_failed', { problem: reply.error ?? '' }));
  });
  worker.on('error', fault);
  worker.on('exit', (code) => {
    if (!retiring) fault(new GatehouseError('internal', 'libraries.policy_thread_exited', { code }));
  });
  // An idle thread never keeps the process alive (servers close, tests end); a busy one does.
  worker.unref();
  const current: PolicyThread = {
    check(password, context, options) {
      return new Promise<PolicyVerdict>((resolve, reject) => {
        clearTimeout(idleTimer);
        const id = (next += 1);
        if (pending.size === 0) worker.ref();
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, password, context, options });
      });
    },
  };
  thread = current;
  return current;
}

function fail(code: Exclude<PolicyVerdict, { ok: true }>['code'], reason: string): PolicyVerdict {
  return { ok: false, code, reason };
}

function countCodePoints(value: string): number {
  let count = 0;
  for (const _ of value) count++;
  return count;
}

function firstCodePoints(value: string, limit: number): string {
  let end = 0;
  let count = 0;
  for (const char of value) {
    if (count++ === limit) break;
    end += char.length;
  }
  return value.slice(0, end);
}

/** Lowercase letters only: digits, symbols and spaces are what people pad a word with. */
function letters(value: string): string {
  return value.normalize('NFKC').toLowerCase().replace(/[^\p{L}\p{M}]+/gu, '');
}

/** Letter runs of at least `min` code points. */
function pieces(value: string, min: number): string[] {
  return value
    .normalize('NFKC')
    .toLowerCase()
    .split(/[^\p{L}\p{M}]+/u)
    .filter((piece) => countCodePoints(piece) >= min);
}

/**
 * Words a password must not be built on: the email's local part (whole and its pieces, >= 3
 * letters), the domain's labels except the TLD (>= 4 letters, so not "co" of "co.uk"), the name's
 * parts (>= 3 letters) and the service name. `letters` feed our own rule; `inputs` go to zxcvbn,
 * which also sees the local part with its digits ("alice99").
 */
function contextWords(context: { email?: unknown; name?: unknown }, serviceName: string): { letters: string[]; inputs: string[] } {
  const found = new Set<string>();
  const inputs = new Set<string>();

  const email = typeof context.email === 'string' ? context.email.normalize('NFKC').toLowerCase().trim() : '';
  const at = email.lastIndexOf('@');
  const local = at === -1 ? email : email.slice(0, at);
  const domain = at === -1 ? '' : email.slice(at + 1);

  if (countCodePoints(letters(local)) >= 3) {
    found.add(letters(local));
    inputs.add(local);
  }
  for (const piece of pieces(local, 3)) found.add(piece);
  for (const label of domain.split('.').slice(0, -1)) {
    for (const piece of pieces(label, 4)) found.add(piece);
  }
  if (typeof context.name === 'string') {
    for (const piece of pieces(context.name, 3)) found.add(piece);
  }
  if (typeof serviceName === 'string') {
    if (countCodePoints(letters(serviceName)) >= 3) found.add(letters(serviceName));
    for (const piece of pieces(serviceName, 3)) found.add(piece);
  }

  for (const word of found) inputs.add(word);
  return { letters: [...found], inputs: [...inputs] };
}

/**
 * True when context words cover more than half of the password's letters (digits, symbols and
 * spaces removed). Occurrences add up, so "AliceExample" and "alicealice" count in full.
 */
function mostlyContextWords(password: string, words: string[]): boolean {
  const core = [...letters(password)];
  if (core.length === 0) return false;
  const covered = new Array<boolean>(core.length).fill(false);
  for (const word of words) {
    const chars = [...word];
    for (let start = 0; start + chars.length <= core.length; start++) {
      if (chars.every((char, offset) => core[start + offset] === char)) {
        covered.fill(true, start, start + chars.length);
      }
    }
  }
  return covered.filter(Boolean).length * 2 > core.length;
}
