import type { SigningKeyRecord } from './types.ts';

/** The ring as JSON text (SQLite) or plain values (MongoDB): dates as epoch milliseconds. */
export type StoredRingKey = Omit<SigningKeyRecord, 'createdAt' | 'activatesAt' | 'activatedAt' | 'retiredAt'> & {
  createdAt: number;
  activatesAt?: number;
  activatedAt?: number;
  retiredAt?: number;
};

const dateFields = ['createdAt', 'activatesAt', 'activatedAt', 'retiredAt'] as const;

export function encodeRingKey(key: SigningKeyRecord): StoredRingKey {
  const stored: Record<string, unknown> = { ...key };
  for (const field of dateFields) {
    if (key[field]) stored[field] = key[field].getTime();
    else delete stored[field];
  }
  return stored as StoredRingKey;
}

export function decodeRingKey(stored: StoredRingKey): SigningKeyRecord {
  const key: Record<string, unknown> = { ...stored };
  for (const field of dateFields) {
    if (typeof stored[field] === 'number') key[field] = new Date(stored[field]);
    else delete key[field];
  }
  return key as SigningKeyRecord;
}
