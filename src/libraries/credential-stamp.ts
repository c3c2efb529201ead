import { keyedHash } from '../keys/encryption.ts';
import type { AccountRecord } from '../store/types.ts';

/**
 * A keyed hash of the account's credentials: it changes whenever the password does (set, reset,
 * changed, rehashed), without putting the hash itself into interaction state. A half-finished
 * sign-in remembers it, and ends when it no longer matches.
 */
export function credentialStamp(keyEncryptionKey: Buffer, account: Pick<AccountRecord, 'id' | 'passwordHash'>): string {
  return keyedHash(keyEncryptionKey, 'credential stamp', `${account.id}\0${account.passwordHash ?? ''}`);
}

/** The stamps of accounts' current credentials, under this installation's key. */
export type CredentialsLibrary = {
  stamp(account: Pick<AccountRecord, 'id' | 'passwordHash'>): string;
};

export function credentialsLibrary(deps: { keyEncryptionKey: Buffer }): CredentialsLibrary {
  return { stamp: (account) => credentialStamp(deps.keyEncryptionKey, account) };
}
