import { randomUUID } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';

import { z } from 'zod';

import type { Clock } from '../clock.ts';
import { GatehouseError } from '../errors.ts';
import type { Logger } from '../logger.ts';
import { message } from '../messages/messages.ts';
import { normalizeEmail } from '../store/normalize-email.ts';
import type { AccountRecord, NewAccount, Store } from '../store/types.ts';
import type { AuditSource } from './audit.ts';
import { auditEvent, cliSource, recordAudit } from './audit.ts';
import type { LibraryDependencies } from './dependencies.ts';
import { defaultHashLimits, hashCostProblem, hashLimitsFrom, isSupportedHash } from './passwords.ts';
import type { HashLimits } from './passwords.ts';
import { emailSchema, newAccountSchema, roleSchema } from './schemas.ts';

export type ImportResult = {
  /** Accounts created (with dryRun: that would be created). */
  imported: number;
  /** Lines whose account already exists with exactly these details. */
  unchanged: number;
  /** Lines not imported: invalid JSON, invalid fields, or an existing account with other details. */
  errors: { line: number; message: string }[];
  /** Lines repeating an email of an earlier line (case-insensitively); the earlier line wins. */
  duplicates: { line: number; email: string }[];
};

const argon2Params = new Set(['m', 't', 'p']);

/**
 * Why a hash cannot be imported, or undefined when it can. Stricter than isSupportedHash, which
 * only looks at the prefix of an argon2 hash: an account whose hash can never verify would be
 * imported without complaint, and its owner could not sign in. A hash costlier than `limits` is
 * refused too: it would make its account's sign-ins slower than everyone's, which tells that the
 * account exists.
 */
function hashProblem(hash: string, limits: HashLimits): string | undefined {
  if (!isSupportedHash(hash)) return message('libraries.hash_unsupported');
  if (hash.startsWith('$2')) {
    const cost = Number(hash.slice(4, 6));
    return cost >= 4 && cost <= 31 ? hashCostProblem(hash, limits) : message('libraries.hash_bcrypt_cost_range');
  }
  // PHC string format: $argon2id[$v=19]$m=…,t=…,p=…$salt$hash (base64 without padding).
  const parts = hash.split('$').slice(2);
  if (parts[0]?.startsWith('v=')) {
    if (!/^v=(16|19)$/.test(parts.shift()!)) return message('libraries.hash_argon2_version');
  }
  const [params, salt, digest, ...rest] = parts;
  const names = (params ?? '').split(',').map((param) => /^([a-z])=[1-9]\d{0,9}$/.exec(param)?.[1]);
  const wellFormed = names.length === argon2Params.size && names.every((name) => name && argon2Params.has(name)) && new Set(names).size === names.length;
  const base64 = /^[A-Za-z0-9+/]{11,}$/;
  if (!wellFormed || !salt || !base64.test(salt) || !digest || !base64.test(digest) || rest.length) return message('libraries.hash_argon2_malformed');
  return hashCostProblem(hash, limits);
}

/** One line of the import file. Unknown fields are refused, so a misspelt field is noticed. */
function lineSchemaFor(limits: HashLimits) {
  return z.strictObject({
    email: emailSchema,
    name: newAccountSchema.shape.name,
    given_name: newAccountSchema.shape.givenName,
    family_name: newAccountSchema.shape.familyName,
    email_verified: z.boolean().default(false),
    // null is what many exports write for "no password": such a user signs in after a reset.
    password_hash: z
      .string()
      .superRefine((hash, ctx) => {
        const problem = hashProblem(hash, limits);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .nullable()
      .optional(),
    roles: z.array(roleSchema).max(100).default([]),
  });
}

type Line = z.output<ReturnType<typeof lineSchemaFor>>;

type Candidate = Omit<NewAccount, 'id' | 'disabled'>;

function candidateOf(line: Line): Candidate {
  return {
    email: line.email,
    passwordHash: line.password_hash ?? null,
    emailVerified: line.email_verified,
    profile: {
      ...(line.name ? { name: line.name } : {}),
      ...(line.given_name ? { given_name: line.given_name } : {}),
      ...(line.family_name ? { family_name: line.family_name } : {}),
    },
    roles: [...new Set(line.roles)],
  };
}

/**
 * The fields (in the file's names) where an existing account differs from a line. Emails compare
 * case-insensitively and roles as a set; `disabled` is no field of the file, so is not compared.
 */
function differences(existing: AccountRecord, candidate: Candidate): string[] {
  const differing: string[] = [];
  if (existing.passwordHash !== candidate.passwordHash) differing.push('password_hash');
  if (existing.emailVerified !== candidate.emailVerified) differing.push('email_verified');
  const profileKeys = new Set([...Object.keys(existing.profile), ...Object.keys(candidate.profile)]);
  for (const key of profileKeys) {
    const field = key as keyof Candidate['profile'];
    if (existing.profile[field] !== candidate.profile[field]) differing.push(key);
  }
  const roles = (list: string[]) => JSON.stringify([...new Set(list)].sort());
  if (roles(existing.roles) !== roles(candidate.roles)) differing.push('roles');
  return differing;
}

/** A JSON.parse message without the excerpt of the line V8 puts in it (it may hold a hash). */
function jsonProblem(error: unknown): string {
  const position = /at position (\d+)/.exec((error as Error).message);
  return position ? message('libraries.import_invalid_json_at', { column: Number(position[1]) + 1 }) : message('libraries.import_invalid_json');
}

/**
 * Field errors as one line, in the file's field names ("roles.0: …"), joined with ", ": a line's
 * problems stay apart from the "; " that separates the problems of one command.
 */
function issuesText(issues: ReadonlyArray<{ path: PropertyKey[]; message: string }>): string {
  return issues.map((issue) => (issue.path.length ? `${issue.path.map(String).join('.')}: ${issue.message}` : issue.message)).join(', ');
}

/**
 * Imports users from JSON Lines (one user a line; blank lines are skipped). Bad lines are reported
 * with their 1-based numbers and skipped; the others are imported. An email already in the store
 * is left alone: counted as unchanged when the account has exactly the line's details (so running
 * the same import again changes nothing), reported as an error otherwise. With `dryRun` nothing is
 * written, and the result says what would have happened. One audit event (`users_imported`, by
 * `options.source`: an operator unless said otherwise) records the counts. Hashes costlier than
 * `options.limits` (from the configuration: hashLimitsFrom) are refused.
 */
export async function importUsers(
  store: Pick<Store, 'accounts' | 'audit'>,
  lines: string,
  options: { dryRun: boolean; limits?: HashLimits; source?: AuditSource; clock?: Clock; logger?: Logger },
): Promise<ImportResult> {
  const result: ImportResult = { imported: 0, unchanged: 0, errors: [], duplicates: [] };
  const lineSchema = lineSchemaFor(options.limits ?? defaultHashLimits);
  const seen = new Set<string>();
  const rows = lines.replace(/^\uFEFF/, '').split(/\r?\n/);

  for (const [index, row] of rows.entries()) {
    const line = index + 1;
    if (!row.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(row);
    } catch (error) {
      result.errors.push({ line, message: jsonProblem(error) });
      continue;
    }
    // The email counts as seen even when the rest of its line is invalid: of two records of one
    // person, the later is not imported silently in place of the earlier, broken one.
    const email = emailSchema.safeParse((value as { email?: unknown } | null)?.email);
    if (email.success) {
      const key = normalizeEmail(email.data);
      if (seen.has(key)) {
        result.duplicates.push({ line, email: email.data });
        continue;
      }
      seen.add(key);
    }
    const parsed = lineSchema.safeParse(value);
    if (!parsed.success) {
      result.errors.push({ line, message: issuesText(parsed.error.issues) });
      continue;
    }
    const candidate = candidateOf(parsed.data);
    const existing = await store.accounts.findByEmail(candidate.email);
    if (existing) {
      const differing = differences(existing, candidate);
      if (differing.length) result.errors.push({ line, message: message('libraries.import_exists_differently', { email: candidate.email, fields: differing.join(', ') }) });
      else result.unchanged += 1;
      continue;
    }
    if (!options.dryRun) {
      try {
        await store.accounts.create({ ...candidate, id: randomUUID(), disabled: false });
      } catch (error) {
        // Created by someone else since we looked: theirs stands.
        if (error instanceof GatehouseError && error.code === 'conflict') {
          result.errors.push({ line, message: message('libraries.import_created_meanwhile', { email: candidate.email }) });
          continue;
        }
        throw error;
      }
    }
    result.imported += 1;
  }

  if (!options.dryRun) {
    await recordAudit(store.audit, auditEvent('users_imported', options.source ?? cliSource, {
      details: { imported: result.imported, unchanged: result.unchanged, errors: result.errors.length, duplicates: result.duplicates.length },
    }), options.logger, options.clock);
  }
  return result;
}

/** "imported 3, unchanged 1, 2 errors, 0 duplicates", then "line N: …" for each problem in line order. */
export function importSummary(result: ImportResult, options: { dryRun: boolean }): string {
  const counts = { imported: result.imported, unchanged: result.unchanged, errors: result.errors.length, duplicates: result.duplicates.length };
  const summary = message(options.dryRun ? 'libraries.import_summary_dry_run' : 'libraries.import_summary', counts);
  const problems = [
    ...result.errors.map(({ line, message: problem }) => ({ line, text: message('libraries.import_line_problem', { line, problem }) })),
    ...result.duplicates.map(({ line, email }) => ({ line, text: message('libraries.import_line_duplicate', { line, email }) })),
  ].sort((a, b) => a.line - b.line);
  return [summary, ...problems.map((problem) => problem.text)].join('\n');
}

/** Largest import file read, so a wrong path (a disk image, a log) fails at once rather than exhausting memory. */
export const maxImportBytes = 50 * 1024 * 1024;

/** Reads an import file as UTF-8, refusing what is too large or not text. */
export function readImportFile(file: string): string {
  const tooLarge = () => new GatehouseError('invalid_input', 'libraries.import_file_too_large', { file, megabytes: maxImportBytes / 1024 / 1024 });
  let bytes: Buffer;
  try {
    if (statSync(file).size > maxImportBytes) throw tooLarge();
    bytes = readFileSync(file);
  } catch (error) {
    if (error instanceof GatehouseError) throw error;
    throw new GatehouseError('invalid_input', 'libraries.import_file_unreadable', { file, problem: (error as Error).message }, { cause: error });
  }
  // It may have grown since the stat.
  if (bytes.length > maxImportBytes) throw tooLarge();
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new GatehouseError('invalid_input', 'libraries.import_file_not_utf8', { file });
  }
}

/** Importing accounts from another system (JSON Lines with their password hashes). */
export type ImportUsersLibrary = {
  /** Reads an import file as UTF-8 text, refusing what is too large or not text. */
  read(file: string): string;
  /** Imports (or with dryRun, tries) the lines; audited as `users_imported` unless a dry run. */
  run(lines: string, options: { dryRun: boolean }, source: AuditSource): Promise<ImportResult>;
  /** The report: the counts, then one line per problem. */
  summary(result: ImportResult, options: { dryRun: boolean }): string;
};

export function importUsersLibrary(deps: Pick<LibraryDependencies, 'store' | 'config' | 'clock' | 'logger'>): ImportUsersLibrary {
  const limits = hashLimitsFrom(deps.config.passwords);
  return {
    read: readImportFile,
    run: (lines, options, source) => importUsers(deps.store, lines, {
      dryRun: options.dryRun, limits, source, clock: deps.clock, ...(deps.logger ? { logger: deps.logger } : {}),
    }),
    summary: importSummary,
  };
}
