import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/**
 * A small WebAuthn authenticator in software, with its browser: ES256 (P-256) credentials made with
 * node:crypto, client data as a browser writes it, authenticator data and attestation objects
 * encoded as the specification has them (CBOR by hand, attestation format "none"), and assertions
 * signed over authenticatorData || SHA-256(clientDataJSON). Its answers are the JSON a page gets
 * from @simplewebauthn/browser, so the server-side ceremony runs for real, without mocks.
 *
 * What a real browser or device decides (the origin, the RP id, whether the person was verified,
 * the backup flags, the counter) are options, so tests can make it lie.
 */

type Bytes = Buffer;

// --- CBOR (RFC 8949), the subset WebAuthn uses -----------------------------------------------------

type Cbor = number | string | Bytes | Map<Cbor, Cbor> | Cbor[];

function head(major: number, length: number): Bytes {
  if (length < 24) return Buffer.from([(major << 5) | length]);
  if (length < 0x100) return Buffer.from([(major << 5) | 24, length]);
  if (length < 0x10000) {
    const out = Buffer.alloc(3);
    out[0] = (major << 5) | 25;
    out.writeUInt16BE(length, 1);
    return out;
  }
  const out = Buffer.alloc(5);
  out[0] = (major << 5) | 26;
  out.writeUInt32BE(length, 1);
  return out;
}

export function cbor(value: Cbor): Bytes {
  if (typeof value === 'number') return value >= 0 ? head(0, value) : head(1, -1 - value);
  if (typeof value === 'string') {
    const text = Buffer.from(value, 'utf8');
    return Buffer.concat([head(3, text.length), text]);
  }
  if (Buffer.isBuffer(value)) return Buffer.concat([head(2, value.length), value]);
  if (Array.isArray(value)) return Buffer.concat([head(4, value.length), ...value.map(cbor)]);
  return Buffer.concat([head(5, value.size), ...[...value].flatMap(([key, item]) => [cbor(key), cbor(item)])]);
}

// --- the authenticator ----------------------------------------------------------------------------

const flag = { up: 0x01, uv: 0x04, be: 0x08, bs: 0x10, at: 0x40 } as const;

export type StoredCredential = {
  id: Bytes;
  privateKey: KeyObject;
  /** The COSE_Key of the public key. */
  publicKey: Bytes;
  rpId: string;
  userHandle: string;
  counter: number;
};

/** What one ceremony may be made to claim, unlike a real browser and device. */
export type Lie = {
  origin?: string;
  /** Hashed into the authenticator data. */
  rpId?: string;
  challenge?: string;
  /** The client data's type. */
  type?: string;
  userPresent?: boolean;
  userVerified?: boolean;
  /** The user handle the assertion carries: null leaves it out. */
  userHandle?: string | null;
  /** The counter to sign, instead of the next one. */
  counter?: number;
};

export type AuthenticatorOptions = {
  /** The browser's origin (e.g. the issuer's). */
  origin: string;
  /** Verifies the person (PIN, biometrics) at each ceremony: the UV flag. Default true. */
  userVerification?: boolean;
  /** Synced passkeys: backup eligible (BE) and backed up (BS). Default: a synced passkey. */
  backupEligible?: boolean;
  backedUp?: boolean;
  /** Counts uses (default true); false: the counter stays 0, as many synced passkeys do. */
  counts?: boolean;
  aaguid?: Bytes;
  transports?: string[];
};

type CreationOptions = {
  challenge: string;
  rp: { id?: string; name: string };
  user: { id: string; name: string; displayName: string };
  excludeCredentials?: Array<{ id: string }>;
};

type RequestOptions = { challenge: string; rpId?: string; allowCredentials?: Array<{ id: string }> };

export type RegistrationResponse = {
  id: string;
  rawId: string;
  type: 'public-key';
  response: { clientDataJSON: string; attestationObject: string; transports: string[] };
  authenticatorAttachment: 'platform' | 'cross-platform';
  clientExtensionResults: Record<string, unknown>;
};

export type AuthenticationResponse = {
  id: string;
  rawId: string;
  type: 'public-key';
  response: { clientDataJSON: string; authenticatorData: string; signature: string; userHandle?: string };
  authenticatorAttachment: 'platform' | 'cross-platform';
  clientExtensionResults: Record<string, unknown>;
};

const sha256 = (data: Bytes | string) => createHash('sha256').update(data).digest();
const b64url = (bytes: Bytes) => bytes.toString('base64url');

/** The COSE_Key (RFC 9053) of a P-256 public key, for ES256 (alg -7). */
function coseKey(publicKey: KeyObject): Bytes {
  const jwk = publicKey.export({ format: 'jwk' });
  return cbor(new Map<Cbor, Cbor>([
    [1, 2], // kty: EC2
    [3, -7], // alg: ES256
    [-1, 1], // crv: P-256
    [-2, Buffer.from(jwk.x!, 'base64url')],
    [-3, Buffer.from(jwk.y!, 'base64url')],
  ]));
}

export class SoftwareAuthenticator {
  readonly credentials: StoredCredential[] = [];
  private readonly options: Required<AuthenticatorOptions>;

  constructor(options: AuthenticatorOptions) {
    this.options = {
      userVerification: true, backupEligible: true, backedUp: true, counts: true, aaguid: Buffer.alloc(16), transports: ['internal', 'hybrid'], ...options,
    };
  }

  private clientData(type: string, challenge: string, lie: Lie): Bytes {
    return Buffer.from(JSON.stringify({ type: lie.type ?? type, challenge: lie.challenge ?? challenge, origin: lie.origin ?? this.options.origin, crossOrigin: false }));
  }

  private flags(lie: Lie, extra = 0): number {
    let flags = extra;
    if (lie.userPresent ?? true) flags |= flag.up;
    if (lie.userVerified ?? this.options.userVerification) flags |= flag.uv;
    if (this.options.backupEligible) flags |= flag.be;
    if (this.options.backupEligible && this.options.backedUp) flags |= flag.bs;
    return flags;
  }

  private authenticatorData(rpId: string, flags: number, counter: number, attested?: Bytes): Bytes {
    const count = Buffer.alloc(4);
    count.writeUInt32BE(counter);
    return Buffer.concat([sha256(rpId), Buffer.from([flags]), count, ...(attested ? [attested] : [])]);
  }

  /** navigator.credentials.create(): a new discoverable credential for the options' RP and user. */
  register(options: CreationOptions, lie: Lie = {}): RegistrationResponse {
    const rpId = options.rp.id ?? new URL(this.options.origin).hostname;
    const excluded = new Set((options.excludeCredentials ?? []).map((each) => each.id));
    if (this.credentials.some((credential) => credential.rpId === rpId && excluded.has(b64url(credential.id)))) {
      throw new Error('InvalidStateError: this authenticator already holds an excluded credential');
    }
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const id = randomBytes(16);
    const credential: StoredCredential = { id, privateKey, publicKey: coseKey(publicKey), rpId, userHandle: options.user.id, counter: 0 };
    this.credentials.push(credential);
    const length = Buffer.alloc(2);
    length.writeUInt16BE(id.length);
    const attested = Buffer.concat([this.options.aaguid, length, id, credential.publicKey]);
    const authData = this.authenticatorData(lie.rpId ?? rpId, this.flags(lie, flag.at), lie.counter ?? 0, attested);
    const attestationObject = cbor(new Map<Cbor, Cbor>([['fmt', 'none'], ['attStmt', new Map()], ['authData', authData]]));
    return {
      id: b64url(id),
      rawId: b64url(id),
      type: 'public-key',
      response: { clientDataJSON: b64url(this.clientData('webauthn.create', options.challenge, lie)), attestationObject: b64url(attestationObject), transports: this.options.transports },
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
    };
  }

  /**
   * navigator.credentials.get(): an assertion by a credential the options allow (with none listed,
   * a discoverable one for the RP: the newest, or `credentialId`).
   */
  authenticate(options: RequestOptions, lie: Lie = {}, credentialId?: string): AuthenticationResponse {
    const rpId = options.rpId ?? new URL(this.options.origin).hostname;
    const allowed = new Set((options.allowCredentials ?? []).map((each) => each.id));
    const candidates = this.credentials.filter((credential) => credential.rpId === rpId && (allowed.size === 0 || allowed.has(b64url(credential.id))));
    const credential = credentialId ? candidates.find((each) => b64url(each.id) === credentialId) : candidates.at(-1);
    if (!credential) throw new Error('NotAllowedError: no credential of this authenticator is allowed');
    if (this.options.counts) credential.counter += 1;
    const authData = this.authenticatorData(lie.rpId ?? rpId, this.flags(lie), lie.counter ?? (this.options.counts ? credential.counter : 0));
    const clientDataJSON = this.clientData('webauthn.get', options.challenge, lie);
    // ECDSA signatures are DER-encoded in WebAuthn, node:crypto's default.
    const signature = sign('sha256', Buffer.concat([authData, sha256(clientDataJSON)]), credential.privateKey);
    const userHandle = lie.userHandle === undefined ? credential.userHandle : lie.userHandle;
    return {
      id: b64url(credential.id),
      rawId: b64url(credential.id),
      type: 'public-key',
      response: { clientDataJSON: b64url(clientDataJSON), authenticatorData: b64url(authData), signature: b64url(signature), ...(userHandle !== null ? { userHandle } : {}) },
      authenticatorAttachment: 'platform',
      clientExtensionResults: {},
    };
  }

  /** A copy holding the same keys and counters (a cloned authenticator). */
  clone(): SoftwareAuthenticator {
    const copy = new SoftwareAuthenticator(this.options);
    copy.credentials.push(...this.credentials.map((credential) => ({ ...credential })));
    return copy;
  }
}
