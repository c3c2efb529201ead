import * as oidc from 'openid-client';

/**
 * The device flow (RFC 8628) from a command line, with openid-client: ask Gatehouse for a code,
 * show the person where to type it, poll until they approve (or deny, or the code expires), then
 * call the example API with the access token.
 */

export type DeviceCliOptions = {
  /** Gatehouse's issuer URL (its discovery document is read from there). */
  issuer: string;
  clientId: string;
  /** Only for a confidential client (`clients add` without `--public`); a CLI is usually public. */
  clientSecret?: string;
  /** The API to call (examples/api) and its identifier, the audience its tokens are issued for. */
  apiUrl: string;
  audience: string;
  scope?: string;
  /** Where the lines for the person go (stdout in main.ts). */
  print: (line: string) => void;
};

export type DeviceCliResult = { accessToken: string; refreshToken?: string; notes: unknown };

export async function signInAndCallApi(options: DeviceCliOptions): Promise<DeviceCliResult> {
  const issuer = new URL(options.issuer);
  const auth = options.clientSecret ? oidc.ClientSecretBasic(options.clientSecret) : oidc.None();
  // http is for a Gatehouse on this machine only (development); anything else must be https.
  const insecure = issuer.protocol === 'http:' ? { execute: [oidc.allowInsecureRequests] } : undefined;
  const config = await oidc.discovery(issuer, options.clientId, options.clientSecret, auth, insecure);

  // The scopes of the API, for its audience (a resource indicator, RFC 8707).
  const parameters = { scope: options.scope ?? 'notes:read', resource: options.audience };
  const device = await oidc.initiateDeviceAuthorization(config, parameters);
  options.print(`To sign in, open ${device.verification_uri} and enter the code ${device.user_code}`);
  if (device.verification_uri_complete) options.print(`(or open ${device.verification_uri_complete})`);
  options.print(`The code expires in ${Math.round(device.expires_in / 60)} minutes. Waiting…`);

  // Polls every `interval` seconds (5 by default), and 5 s slower after each slow_down; throws
  // access_denied when the person denies, expired_token when the code expires first.
  const tokens = await oidc.pollDeviceAuthorizationGrant(config, device, { resource: options.audience });
  options.print('Signed in.');

  const response = await fetch(new URL('/notes', options.apiUrl), { headers: { authorization: `Bearer ${tokens.access_token}` } });
  const notes: unknown = await response.json();
  if (!response.ok) throw new Error(`the API answered ${response.status}: ${JSON.stringify(notes)}`);
  options.print(`The API answered: ${JSON.stringify(notes)}`);
  return { accessToken: tokens.access_token, ...(tokens.refresh_token ? { refreshToken: tokens.refresh_token } : {}), notes };
}

/** What the person reads when the sign-in does not end in tokens. */
export function failureLine(error: unknown): string {
  if (error instanceof oidc.ResponseBodyError) {
    if (error.error === 'access_denied') return 'The request was denied. Nothing was signed in.';
    if (error.error === 'expired_token') return 'The code expired before it was used. Run the command again for a new one.';
    return `Gatehouse refused: ${error.error}${error.error_description ? ` (${error.error_description})` : ''}`;
  }
  return `Sign-in failed: ${error instanceof Error ? error.message : String(error)}`;
}
