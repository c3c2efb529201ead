import { z } from 'zod';

import { accountRepresentation, profilePatchSchema } from '../../libraries/accounts.ts';
import type { AuditSource } from '../../libraries/audit.ts';
import type { PasskeySummary } from '../../libraries/passkeys.ts';
import type { AccountRecord } from '../../store/types.ts';
import type { Route, RouteContext } from './kit.ts';
import { pageByKey, pageOf, pageQuery, snakePath } from './kit.ts';
import { ApiProblem } from './problems.ts';

/** A user as the API shows it (as `gatehouse users show --json` does): never a password hash. */
export const userSchema = z.looseObject({
  id: z.string(),
  email: z.string(),
  email_verified: z.boolean(),
  roles: z.array(z.string()),
  disabled: z.boolean(),
  created_at: z.string(),
  updated_at: z.string(),
  profile_updated_at: z.string(),
}).meta({ id: 'User', description: 'With the profile claims it has (name, given_name, …, address).' });

export function userJson(account: AccountRecord): z.output<typeof userSchema> {
  return accountRepresentation(account);
}

const newUserBody = z.strictObject({
  email: z.string().max(254),
  password: z.string().max(4096).describe('Checked against the password policy; never shown again.'),
  name: z.string().max(200).optional(),
  given_name: z.string().max(200).optional(),
  family_name: z.string().max(200).optional(),
  email_verified: z.boolean().optional(),
  roles: z.array(z.string().max(64)).max(100).optional(),
}).meta({ id: 'NewUser' });

const rolesBody = z.strictObject({ roles: z.array(z.string().max(64)).max(100) }).meta({ id: 'Roles' });

const passkeySchema = z.object({
  id: z.string(), name: z.string(), created_at: z.string(), last_used_at: z.string().nullable(), synced: z.boolean(), device_type: z.string(), transports: z.array(z.string()),
}).meta({ id: 'Passkey' });

function passkeyJson(passkey: PasskeySummary): z.output<typeof passkeySchema> {
  return {
    id: passkey.id, name: passkey.name, created_at: passkey.createdAt.toISOString(), last_used_at: passkey.lastUsedAt?.toISOString() ?? null,
    synced: passkey.backedUp, device_type: passkey.deviceType, transports: passkey.transports,
  };
}

const sessionSchema = z.looseObject({ id: z.string() }).meta({ id: 'Session', description: "One of the user's live sessions (what the account centre shows of it)." });

const userParams = z.object({ userId: z.string().max(254).describe("The user's id (or email address).") });
const listQuery = pageQuery.extend({ email: z.string().max(254).optional().describe('Only the user with this email address (compared case-insensitively).') });

const profileChangeBody = profilePatchSchema.meta({ id: 'ProfileChange', description: 'Profile claims: a value sets a claim, null or "" removes it, an absent one stays.' });
const secondFactorResetSchema = z.object({ removed: z.boolean() }).meta({ id: 'SecondFactorReset' });
const endedSessionsSchema = z.object({ sessions: z.number().int(), revoked: z.number().int(), queued: z.number().int() }).meta({ id: 'EndedSessions' });

/** The most users one import request takes, and its largest body: a bigger import is sent in batches. */
export const maxImportUsers = 5000;
export const maxImportBodyBytes = 2 * 1024 * 1024;

const importBody = z.strictObject({
  users: z.array(z.record(z.string(), z.unknown()).describe(
    'One user, as a line of the file `gatehouse users import` reads: email, name, given_name, family_name, email_verified, '
    + 'password_hash (bcrypt or argon2; null or absent: the user sets a password by reset), roles. Each is checked by the import: '
    + 'a bad one is reported in `errors` (its `line` is its 1-based position here) and the others are imported.',
  )).min(1).max(maxImportUsers),
  dry_run: z.boolean().default(false).describe('Check and count, write nothing.'),
}).meta({ id: 'UserImport' });

const importResultSchema = z.object({
  dry_run: z.boolean(),
  imported: z.number().int().describe('Users created (with dry_run: that would be).'),
  unchanged: z.number().int().describe('Users that exist already with exactly these details.'),
  errors: z.array(z.object({ line: z.number().int(), message: z.string() })).describe('Users not imported (invalid, or an existing user with other details); line = 1-based position in `users`.'),
  duplicates: z.array(z.object({ line: z.number().int(), email: z.string() })).describe('Users repeating an earlier email (the earlier one wins).'),
}).meta({ id: 'UserImportResult' });

/**
 * Listing sessions (the account centre's devices library) and ending one session (the sessions
 * library) come with the account centre (issue 20); read structurally, so that the routes answer
 * 501 rather than fail where a build lacks them.
 */
type SessionListing = { devices?: { sessions?: (accountId: string) => Promise<object[]> } };
type SessionEnding = { endSession?: (accountId: string, sessionId: string, source: AuditSource) => Promise<{ ended: boolean }> };

export function userRoutes({ libraries }: RouteContext): Route[] {
  const account = (userId: string) => libraries.accounts.get(userId);
  const read = async (userId: string) => userJson(await account(userId));
  const listSessions = (libraries as SessionListing).devices?.sessions;
  const sessions = libraries.sessions as typeof libraries.sessions & SessionEnding;
  // A session as JSON: snake_case names, dates as RFC 3339, nothing undefined.
  const json = (value: unknown): unknown => (value instanceof Date ? value.toISOString() : Array.isArray(value) ? value.map(json)
    : value && typeof value === 'object'
      ? Object.fromEntries(Object.entries(value).filter(([, each]) => each !== undefined).map(([key, each]) => [snakePath(key), json(each)]))
      : value);
  return [
    {
      method: 'get', path: '/users', operationId: 'listUsers', summary: 'List users', tag: 'Users', scope: 'users:read',
      query: listQuery, problems: [],
      responses: { 200: { description: 'A page of users, by id', schema: pageOf(userSchema) } },
      async handle({ query }) {
        const { email, ...page } = query as z.output<typeof listQuery>;
        const all = email !== undefined ? [await libraries.accounts.findByEmail(email)].filter((found) => found !== undefined) : await libraries.accounts.list();
        return { status: 200, body: pageByKey(all.map(userJson), (user) => user.id, page) };
      },
    },
    {
      method: 'post', path: '/users', operationId: 'createUser', summary: 'Create a user', tag: 'Users', scope: 'users:write',
      body: newUserBody, problems: [409],
      responses: { 201: { description: 'Created', schema: userSchema, etag: true, location: true } },
      async handle({ body, source }) {
        const input = body as z.output<typeof newUserBody>;
        const created = await libraries.accounts.create({
          email: input.email, password: input.password,
          ...(input.name !== undefined ? { name: input.name } : {}), ...(input.given_name !== undefined ? { givenName: input.given_name } : {}),
          ...(input.family_name !== undefined ? { familyName: input.family_name } : {}),
          ...(input.email_verified !== undefined ? { emailVerified: input.email_verified } : {}), ...(input.roles ? { roles: input.roles } : {}),
        }, source);
        return { status: 201, body: userJson(created), etag: true, location: `/users/${created.id}` };
      },
    },
    {
      method: 'post', path: '/users/import', operationId: 'importUsers', tag: 'Users', scope: 'users:write',
      summary: `Import users with their password hashes (at most ${maxImportUsers} a request, a body of at most ${maxImportBodyBytes / 1024 / 1024} MiB)`,
      body: importBody, maxBodyBytes: maxImportBodyBytes, problems: [],
      responses: { 200: { description: 'What was imported and what was refused (refused users do not stop the others)', schema: importResultSchema } },
      async handle({ body, source }) {
        const input = body as z.output<typeof importBody>;
        // The same records as the CLI's file, one JSON line each: a user's line number is its position.
        const lines = input.users.map((user) => JSON.stringify(user)).join('\n');
        const result = await libraries.importUsers.run(lines, { dryRun: input.dry_run }, source);
        return { status: 200, body: { dry_run: input.dry_run, ...result } };
      },
    },
    {
      method: 'get', path: '/users/{userId}', operationId: 'getUser', summary: 'Read a user', tag: 'Users', scope: 'users:read',
      params: userParams, problems: [404],
      responses: { 200: { description: 'The user', schema: userSchema, etag: true } },
      async handle({ params }) {
        return { status: 200, body: await read(params.userId!), etag: true };
      },
    },
    {
      method: 'patch', path: '/users/{userId}', operationId: 'updateUser', summary: "Change a user's profile (If-Match required)", tag: 'Users', scope: 'users:write',
      params: userParams, body: profileChangeBody,
      problems: [404, 412, 428], current: ({ params }) => read(params.userId!),
      responses: { 200: { description: 'The user as changed', schema: userSchema, etag: true } },
      async handle({ params, body, source }) {
        const { account: changed } = await libraries.accounts.updateProfile((await account(params.userId!)).id, body as z.input<typeof profilePatchSchema>, source);
        return { status: 200, body: userJson(changed), etag: true };
      },
    },
    {
      method: 'delete', path: '/users/{userId}', operationId: 'deleteUser', summary: 'Delete a user now (erased; their sessions end)', tag: 'Users', scope: 'users:write',
      params: userParams, problems: [404],
      responses: { 204: { description: 'Erased' } },
      async handle({ params, source }) {
        await libraries.accountDeletion.deleteNow((await account(params.userId!)).id, source);
        return { status: 204 };
      },
    },
    {
      method: 'post', path: '/users/{userId}/disable', operationId: 'disableUser', summary: 'Disable a user (ends their sessions, revokes their tokens)', tag: 'Users', scope: 'users:write',
      params: userParams, problems: [404],
      responses: { 200: { description: 'The user, disabled', schema: userSchema, etag: true } },
      async handle({ params, source }) {
        return { status: 200, body: userJson(await libraries.accounts.disable((await account(params.userId!)).id, source)), etag: true };
      },
    },
    {
      method: 'post', path: '/users/{userId}/enable', operationId: 'enableUser', summary: 'Enable a user', tag: 'Users', scope: 'users:write',
      params: userParams, problems: [404],
      responses: { 200: { description: 'The user, enabled', schema: userSchema, etag: true } },
      async handle({ params, source }) {
        return { status: 200, body: userJson(await libraries.accounts.enable((await account(params.userId!)).id, source)), etag: true };
      },
    },
    {
      method: 'put', path: '/users/{userId}/roles', operationId: 'setUserRoles', summary: "Replace a user's roles (If-Match: the user's ETag)", tag: 'Users', scope: 'users:write',
      params: userParams, body: rolesBody, problems: [404, 412, 428], current: ({ params }) => read(params.userId!),
      responses: { 200: { description: 'The user with these roles', schema: userSchema, etag: true } },
      async handle({ params, body, source }) {
        return { status: 200, body: userJson(await libraries.accounts.setRoles((await account(params.userId!)).id, (body as z.output<typeof rolesBody>).roles, source)), etag: true };
      },
    },
    {
      method: 'post', path: '/users/{userId}/second-factor/reset', operationId: 'resetUserSecondFactor', summary: 'Remove their authenticator app and recovery codes (support)', tag: 'Users', scope: 'users:write',
      params: userParams, problems: [404],
      responses: { 200: { description: 'Whether there was one to remove', schema: secondFactorResetSchema } },
      async handle({ params, source }) {
        return { status: 200, body: { removed: await libraries.secondFactor.remove((await account(params.userId!)).id, source) } };
      },
    },
    {
      method: 'get', path: '/users/{userId}/passkeys', operationId: 'listUserPasskeys', summary: "A user's passkeys", tag: 'Users', scope: 'users:read',
      params: userParams, problems: [404],
      responses: { 200: { description: 'Their passkeys', schema: z.object({ items: z.array(passkeySchema) }) } },
      async handle({ params }) {
        return { status: 200, body: { items: (await libraries.passkeys.list((await account(params.userId!)).id)).map(passkeyJson) } };
      },
    },
    {
      method: 'delete', path: '/users/{userId}/passkeys/{passkeyId}', operationId: 'deleteUserPasskey', summary: 'Remove a passkey (e.g. a lost device)', tag: 'Users', scope: 'users:write',
      params: userParams.extend({ passkeyId: z.string().max(1000) }), problems: [404],
      responses: { 204: { description: 'Removed' } },
      async handle({ params, source }) {
        const { id, email } = await account(params.userId!);
        if (!(await libraries.passkeys.list(id)).some((each) => each.id === params.passkeyId)) {
          throw new ApiProblem('not_found', 'api.no_passkey', { email, id: params.passkeyId! });
        }
        await libraries.passkeys.remove(id, params.passkeyId!, source);
        return { status: 204 };
      },
    },
    {
      method: 'get', path: '/users/{userId}/sessions', operationId: 'listUserSessions', summary: "A user's live sessions", tag: 'Users', scope: 'users:read',
      params: userParams, problems: [404, 501],
      responses: { 200: { description: 'Their sessions', schema: z.object({ items: z.array(sessionSchema) }) } },
      async handle({ params }) {
        if (!listSessions) throw new ApiProblem('not_implemented', 'api.not_available', { feature: 'Listing sessions' });
        return { status: 200, body: { items: json(await listSessions((await account(params.userId!)).id)) } };
      },
    },
    {
      method: 'delete', path: '/users/{userId}/sessions', operationId: 'endUserSessions', summary: 'End every session of theirs (tokens revoked, applications told)', tag: 'Users', scope: 'users:write',
      params: userParams, problems: [404],
      responses: { 200: { description: 'What ended', schema: endedSessionsSchema } },
      async handle({ params, source }) {
        const ended = await libraries.sessions.signOut((await account(params.userId!)).id, source);
        return { status: 200, body: { sessions: ended.sessions, revoked: ended.revoked, queued: ended.queued } };
      },
    },
    {
      method: 'delete', path: '/users/{userId}/sessions/{sessionId}', operationId: 'endUserSession', summary: 'End one session of theirs', tag: 'Users', scope: 'users:write',
      params: userParams.extend({ sessionId: z.string().max(200) }), problems: [404, 501],
      responses: { 204: { description: 'Ended' } },
      async handle({ params, source }) {
        if (!sessions.endSession) throw new ApiProblem('not_implemented', 'api.not_available', { feature: 'Ending one session' });
        const { id, email } = await account(params.userId!);
        const { ended } = await sessions.endSession(id, params.sessionId!, source);
        if (!ended) throw new ApiProblem('not_found', 'api.no_session', { email, id: params.sessionId! });
        return { status: 204 };
      },
    },
  ];
}
