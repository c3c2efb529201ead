/**
 * The MCP client side, as an agent or a desktop assistant runs it: the official SDK's `Client`
 * over Streamable HTTP, with its OAuth support. The SDK does the protocol (discovery, registration,
 * PKCE, the token request, `resource`); the application provides an `OAuthClientProvider`: where
 * to keep what it learns, and how to send the person to the authorization page.
 */
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';
import type { OAuthClientInformationMixed, OAuthClientMetadata, OAuthTokens } from '@modelcontextprotocol/sdk/shared/auth.js';

export type ClientProviderOptions = {
  /** The loopback URL the browser comes back to with the code (`http://127.0.0.1:<port>/callback`). */
  redirectUrl: string;
  /** What the client registers with (dynamic client registration). */
  clientMetadata: OAuthClientMetadata;
  /**
   * An https URL serving this client's metadata document: used as the `client_id` when the
   * authorization server advertises `client_id_metadata_document_supported` (no registration).
   */
  clientMetadataUrl?: string;
  /** Called with the authorization URL the person must open. */
  onAuthorizationUrl(url: URL): void | Promise<void>;
};

/** An OAuthClientProvider that keeps everything in memory (a real client would persist it). */
export class InMemoryOAuthClientProvider implements OAuthClientProvider {
  readonly options: ClientProviderOptions;
  readonly clientMetadataUrl: string | undefined;
  #client: OAuthClientInformationMixed | undefined;
  #tokens: OAuthTokens | undefined;
  #verifier: string | undefined;
  #state: string | undefined;

  constructor(options: ClientProviderOptions) {
    this.options = options;
    this.clientMetadataUrl = options.clientMetadataUrl;
  }

  get redirectUrl(): string {
    return this.options.redirectUrl;
  }

  get clientMetadata(): OAuthClientMetadata {
    return this.options.clientMetadata;
  }

  /** A fresh `state` per authorization request; the callback must bring it back. */
  state(): string {
    this.#state = crypto.randomUUID();
    return this.#state;
  }

  get expectedState(): string | undefined {
    return this.#state;
  }

  clientInformation(): OAuthClientInformationMixed | undefined {
    return this.#client;
  }

  saveClientInformation(information: OAuthClientInformationMixed): void {
    this.#client = information;
  }

  tokens(): OAuthTokens | undefined {
    return this.#tokens;
  }

  saveTokens(tokens: OAuthTokens): void {
    this.#tokens = tokens;
  }

  async redirectToAuthorization(authorizationUrl: URL): Promise<void> {
    await this.options.onAuthorizationUrl(authorizationUrl);
  }

  saveCodeVerifier(codeVerifier: string): void {
    this.#verifier = codeVerifier;
  }

  codeVerifier(): string {
    if (!this.#verifier) throw new Error('no authorization is under way');
    return this.#verifier;
  }

  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): void {
    if (scope === 'all' || scope === 'client') this.#client = undefined;
    if (scope === 'all' || scope === 'tokens') this.#tokens = undefined;
    if (scope === 'all' || scope === 'verifier') this.#verifier = undefined;
  }
}

/**
 * The code (and only the code) from the URL the browser was sent back to, after checking its
 * `state`; an error answer from the authorization server becomes an Error.
 */
export function codeFromCallback(callback: URL, expectedState: string | undefined): string {
  const params = callback.searchParams;
  if (params.get('state') !== (expectedState ?? null)) throw new Error('the callback does not carry the state of this authorization');
  const error = params.get('error');
  if (error) throw new Error(`authorization refused: ${error}${params.get('error_description') ? ` (${params.get('error_description')})` : ''}`);
  const code = params.get('code');
  if (!code) throw new Error('the callback carries no code');
  return code;
}
