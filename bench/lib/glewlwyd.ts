/**
 * Glewlwyd (https://github.com/babelouest/glewlwyd), a C OAuth2/OIDC server, as a third server
 * for discovery, JWKS, client credentials (RS256) and introspection. Optional: on Debian,
 *
 *   apt-get update && apt-get install -y glewlwyd     # bookworm: 2.7.5
 *
 * Without it, the bench prints "Glewlwyd not installed: skipped" and runs the rest.
 *
 * The bench configures it itself, on loopback only: a temporary directory with its own config file
 * and SQLite database (initialised from the schema the package ships), then its admin REST API:
 * sign in as the bootstrap admin the schema ships (admin / password, on this throwaway database),
 * make the client module's secret hash affordable and reset the module (a changed hash setting
 * applies only after the reset; otherwise client secrets use 150,000 PBKDF2 iterations), add a
 * scope, the OIDC plugin with an RSA-2048 key generated here, and a confidential client with
 * client_credentials. Traps avoided on the way: `external_url` without a trailing slash (otherwise
 * URLs come out as `//api`), no `use_secure_connection` line (false without certificate paths
 * makes it exit), and descriptors beyond stdio closed before it starts (it keeps an inherited pipe
 * open).
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { gunzipSync } from 'node:zlib';

import { basicAuth } from './fixture.ts';
import { form, send } from './http.ts';
import type { LoadRequest } from './load.ts';
import type { ServerProcess } from './processes.ts';
import { startCommand } from './processes.ts';

const binaryCandidates = ['/usr/bin/glewlwyd', '/usr/local/bin/glewlwyd', '/usr/sbin/glewlwyd'];
const schemaCandidates = [
  '/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz',
  '/usr/share/dbconfig-common/data/glewlwyd/install/sqlite3',
  '/usr/share/glewlwyd/database/init.sqlite3.sql',
];
const moduleRoots = ['/usr/lib/glewlwyd', '/usr/local/lib/glewlwyd', '/usr/lib/x86_64-linux-gnu/glewlwyd'];

/** The bootstrap administrator that Glewlwyd's shipped schema creates. */
const bootstrapAdmin = { username: 'admin', password: 'password' };
const pluginName = 'oidc';

/**
 * PBKDF2 iterations for the client's secret. Gatehouse compares client secrets without a slow hash
 * (they are random 256-bit values, sealed at rest), so the closest like-for-like is the cheapest
 * Glewlwyd accepts: one iteration (the database module rejects 0).
 */
export const clientSecretPbkdf2Iterations = 1;

export type GlewlwydInstall = { binary: string; schema: string; modules: string; version?: string };

/** Where the Debian package put Glewlwyd, or why it is not usable. */
export function findGlewlwyd(): GlewlwydInstall | { missing: string } {
  const executable = (path: string) => {
    try {
      accessSync(path, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  const binary = binaryCandidates.find(executable);
  if (!binary) return { missing: 'no glewlwyd binary' };
  const schema = schemaCandidates.find((path) => existsSync(path));
  if (!schema) return { missing: 'no SQLite schema (init.sqlite3.sql)' };
  const modules = moduleRoots.find((root) => existsSync(join(root, 'plugin')) && existsSync(join(root, 'client')));
  if (!modules) return { missing: 'no module directory (…/glewlwyd/plugin)' };
  let version: string | undefined;
  try {
    // `--help` prints "Version 2.7.5" and exits.
    const help = execFileSync(binary, ['--help'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'pipe'] });
    version = /Version ([\d.]+)/.exec(help)?.[1];
  } catch (error) {
    version = /Version ([\d.]+)/.exec(String((error as { stdout?: string }).stdout ?? ''))?.[1];
  }
  return { binary, schema, modules, ...(version ? { version } : {}) };
}

export type Glewlwyd = {
  server: ServerProcess;
  version?: string;
  /** The confidential client_credentials client, its secret hashed with PBKDF2 at `clientSecretPbkdf2Iterations`. */
  client: { clientId: string; clientSecret: string };
  scope: string;
  /** An access token (a JWT Glewlwyd also stores) of that client, for introspection by the same client. */
  accessToken: string;
  paths: { discovery: string; jwks: string; token: string; introspection: string };
  requests: {
    discovery: () => LoadRequest;
    jwks: () => LoadRequest;
    clientCredentials: () => LoadRequest;
    introspection: () => LoadRequest;
  };
};

function config(options: { port: number; databasePath: string; modules: string }): string {
  const { port, databasePath, modules } = options;
  return `# Written by bench/lib/glewlwyd.ts for one bench run; loopback only.
port=${port}
bind_address="127.0.0.1"
# No trailing slash: Glewlwyd appends "/api" itself.
external_url="http://127.0.0.1:${port}"
login_url="login.html"
api_prefix="api"
allow_origin="*"
log_mode="console"
log_level="WARNING"
cookie_secure=0
cookie_same_site="empty"
session_expiration=2419200
session_key="GLEWLWYD2_SESSION_ID"
admin_session_authentication="cookie"
profile_session_authentication="cookie"
allow_multiple_user_per_session=true
login_api_enabled=true
plugin_api_run_enabled=""
add_x_frame_option_header_deny=true
max_post_size=16778240
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="${modules}/user"
client_module_path="${modules}/client"
user_auth_scheme_module_path="${modules}/scheme"
plugin_module_path="${modules}/plugin"
hash_algorithm="SHA512"
# No use_secure_connection line: "false" without certificate paths makes it exit.
database =
{
  type = "sqlite3"
  path = "${databasePath}"
};
`;
}

/** A JSON call to the admin API with the admin's session cookie. */
async function admin(base: string, cookie: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const response = await send(`${base}/api${path}`, {
    method,
    headers: { cookie, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (response.status !== 200) throw new Error(`Glewlwyd admin ${method} ${path} answered ${response.status}: ${response.body.slice(0, 500)}`);
  return response.body ? (JSON.parse(response.body) as unknown) : undefined;
}

/**
 * Starts Glewlwyd on 127.0.0.1:`port` with a fresh database in `dir` and configures it for the
 * bench. Undefined (and `log` says why, in one line) when it is not installed.
 */
export async function startGlewlwyd(options: { dir: string; port: number; accessTokenSeconds: number; log: (line: string) => void }): Promise<Glewlwyd | undefined> {
  const install = findGlewlwyd();
  if ('missing' in install) {
    options.log(`Glewlwyd not installed (${install.missing}): skipped. To include it: apt-get install -y glewlwyd`);
    return undefined;
  }
  const { dir, port } = options;
  const base = `http://127.0.0.1:${port}`;
  const databasePath = join(dir, 'glewlwyd.db');
  const configPath = join(dir, 'glewlwyd.conf');

  const schemaText = install.schema.endsWith('.gz') ? gunzipSync(readFileSync(install.schema)).toString('utf8') : readFileSync(install.schema, 'utf8');
  const db = new DatabaseSync(databasePath);
  try {
    db.exec(schemaText);
  } finally {
    db.close();
  }
  writeFileSync(configPath, config({ port, databasePath, modules: install.modules }));

  // Through bash, which closes every descriptor above 2 and then execs Glewlwyd (same pid), so it
  // holds no pipe of whoever started the bench.
  const closeAndExec = 'for fd in /proc/$$/fd/*; do n=${fd##*/}; if [ "$n" -gt 2 ]; then eval "exec $n>&-" 2>/dev/null; fi; done; exec "$@"';
  const server = await startCommand('Glewlwyd', '/bin/bash', ['-c', closeAndExec, 'glewlwyd', install.binary, '--config-file', configPath], {}, base, '/config', {
    isErrorLine: (line) => /\bERROR\b/.test(line),
    cwd: dir,
  });

  try {
    const login = await send(`${base}/api/auth/`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(bootstrapAdmin) });
    if (login.status !== 200) throw new Error(`Glewlwyd admin login answered ${login.status}: ${login.body.slice(0, 300)}`);
    const cookie = (login.headers['set-cookie'] ?? []).map((line) => line.split(';')[0]!).join('; ');
    if (!cookie) throw new Error('Glewlwyd admin login set no cookie');

    // The client module's secret hash: affordable, applied by the module's reset.
    const clientModule = (await admin(base, cookie, 'GET', '/mod/client/database')) as { display_name: string; parameters: Record<string, unknown>; order_rank: number; readonly: boolean };
    await admin(base, cookie, 'PUT', '/mod/client/database', {
      display_name: clientModule.display_name, order_rank: clientModule.order_rank, readonly: clientModule.readonly,
      parameters: { ...clientModule.parameters, 'pbkdf2-iterations': clientSecretPbkdf2Iterations },
    });
    await admin(base, cookie, 'PUT', '/mod/client/database/reset');

    const scope = 'read';
    await admin(base, cookie, 'POST', '/scope/', { name: scope, display_name: 'Bench API read', description: 'Bench API read access', password_required: false, scheme: {} });

    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const issuer = `${base}/api/${pluginName}`;
    await admin(base, cookie, 'POST', '/mod/plugin/', {
      module: 'oidc', name: pluginName, display_name: 'Bench OIDC', enabled: true,
      parameters: {
        iss: issuer,
        'jwt-type': 'rsa',
        'jwt-key-size': '256',
        key: privateKey.export({ type: 'pkcs8', format: 'pem' }),
        cert: publicKey.export({ type: 'spki', format: 'pem' }),
        'jwks-show': true,
        'access-token-duration': options.accessTokenSeconds,
        'refresh-token-duration': 1_209_600,
        'code-duration': 600,
        'allow-non-oidc': true,
        'auth-type-client-enabled': true,
        'auth-type-code-enabled': true,
        'auth-type-refresh-enabled': true,
        'introspection-revocation-allowed': true,
        'introspection-revocation-allow-target-client': true,
      },
    });

    const client = { clientId: 'bench-service', clientSecret: randomBytes(32).toString('base64url') };
    await admin(base, cookie, 'POST', '/client/', {
      client_id: client.clientId, name: 'Bench service', description: 'client_credentials only', enabled: true, confidential: true,
      password: client.clientSecret, scope: [scope], authorization_type: ['client_credentials'], redirect_uri: [],
      // The OIDC plugin refuses a confidential client that names no authentication method.
      token_endpoint_auth_method: ['client_secret_basic'],
    });

    const paths = {
      discovery: `/api/${pluginName}/.well-known/openid-configuration`,
      jwks: `/api/${pluginName}/jwks`,
      token: `/api/${pluginName}/token/`,
      introspection: `/api/${pluginName}/introspect/`,
    };
    const discovery = await send(`${base}${paths.discovery}`);
    if (discovery.status !== 200) throw new Error(`Glewlwyd discovery answered ${discovery.status}: ${discovery.body.slice(0, 300)}`);
    const clientCredentialsBody = form({ grant_type: 'client_credentials', scope });
    const issued = await send(`${base}${paths.token}`, { method: 'POST', headers: { authorization: basicAuth(client) }, body: clientCredentialsBody });
    if (issued.status !== 200) throw new Error(`Glewlwyd client credentials answered ${issued.status}: ${issued.body.slice(0, 300)}`);
    const accessToken = (JSON.parse(issued.body) as { access_token: string }).access_token;
    const header = JSON.parse(Buffer.from(accessToken.split('.')[0]!, 'base64url').toString('utf8')) as { alg?: string };
    if (header.alg !== 'RS256') throw new Error(`Glewlwyd signed with ${header.alg ?? 'nothing'}, not RS256`);
    const introspected = await send(`${base}${paths.introspection}`, { method: 'POST', headers: { authorization: basicAuth(client) }, body: form({ token: accessToken }) });
    if (introspected.status !== 200 || !(JSON.parse(introspected.body) as { active?: boolean }).active) {
      throw new Error(`Glewlwyd introspection answered ${introspected.status}: ${introspected.body.slice(0, 300)}`);
    }

    return {
      server, client, scope, accessToken, paths,
      ...(install.version ? { version: install.version } : {}),
      requests: {
        discovery: () => ({ path: paths.discovery }),
        jwks: () => ({ path: paths.jwks }),
        clientCredentials: () => ({ method: 'POST', path: paths.token, headers: { authorization: basicAuth(client) }, body: clientCredentialsBody }),
        introspection: () => ({ method: 'POST', path: paths.introspection, headers: { authorization: basicAuth(client) }, body: form({ token: accessToken }) }),
      },
    };
  } catch (error) {
    await server.stop();
    throw new Error(`${(error as Error).message}\nGlewlwyd output:\n${server.output()}`, { cause: error });
  }
}
