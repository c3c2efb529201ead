/**
 * What both servers are set up with: one user, three clients and two APIs, so that every scenario
 * sends the same requests to Gatehouse and to the bare-library baseline.
 */

export const benchUser = {
  email: 'bench.user@example.com',
  // Long enough and uncommon enough for the password policy.
  password: 'quiet harbor lantern ferry 7291',
  name: 'Bench User',
};

/** A loopback redirect URI: the flow driver reads the code from the Location header, nothing listens. */
export const redirectUri = 'http://127.0.0.1:9/callback';

export const benchApis = [
  { identifier: 'https://es256.api.bench.test', signingAlg: 'ES256', scopes: ['read'] },
  { identifier: 'https://rs256.api.bench.test', signingAlg: 'RS256', scopes: ['read'] },
] as const;

export type BenchApi = (typeof benchApis)[number];

/** Scopes of the user-facing flows. */
export const webScope = 'openid email profile';
export const refreshScope = 'openid email offline_access';

export type RegisteredClient = { clientId: string; clientSecret?: string };

export type BenchClients = {
  /** Confidential, third party (consent page), authorization_code + refresh_token. */
  web: RegisteredClient & { clientSecret: string };
  /** Public (no secret): its refresh tokens rotate on every use. */
  spa: RegisteredClient;
  /** Machine to machine: client_credentials only. */
  service: RegisteredClient & { clientSecret: string };
};

/** Everything the baseline needs to mirror the Gatehouse set-up (passed as JSON in its environment). */
export type BaselineSetup = {
  port: number;
  issuer: string;
  cookieKeys: string[];
  /** Provider client metadata, secrets included, exactly as Gatehouse's client adapter returns them. */
  clients: Record<string, unknown>[];
  account: { id: string; email: string; passwordHash: string; claims: Record<string, unknown> };
  apis: { identifier: string; signingAlg: string; scopes: string[]; accessTokenTtl: number }[];
  ttl: {
    accessToken: number;
    clientCredentials: number;
    authorizationCode: number;
    idToken: number;
    refreshToken: number;
    grant: number;
    session: number;
    interaction: number;
  };
};

export function basicAuth(client: { clientId: string; clientSecret?: string }): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret ?? '')}`).toString('base64')}`;
}
