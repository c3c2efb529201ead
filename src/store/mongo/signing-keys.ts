import { decodeRingKey, encodeRingKey } from '../ring-codec.ts';
import type { StoredRingKey } from '../ring-codec.ts';
import type { KeyRing, SigningKeyStore } from '../types.ts';
import type { MongoDatabase } from './database.ts';
import { isDuplicateKey } from './database.ts';
import { escapeKeys, unescapeKeys } from './keys.ts';

const keyRingCollection = 'key_ring';

type RingDocument = { _id: 'ring'; version: number; keys: StoredRingKey[] };

function toRing(document: RingDocument | null): KeyRing {
  if (!document) return { version: 0, keys: [] };
  return { version: document.version, keys: (unescapeKeys(document.keys) as StoredRingKey[]).map(decodeRingKey) };
}

/** The ring is one document, replaced whole with findOneAndUpdate on its version: no transaction needed. */
export function createMongoSigningKeyStore(database: MongoDatabase): SigningKeyStore {
  const { run } = database;
  const rings = database.collection<RingDocument>(keyRingCollection);
  return {
    async read() {
      return toRing(await run(() => rings.findOne({ _id: 'ring' })));
    },
    async replace(expectedVersion, keys) {
      const stored = escapeKeys(keys.map(encodeRingKey)) as StoredRingKey[];
      if (expectedVersion === 0) {
        const document: RingDocument = { _id: 'ring', version: 1, keys: stored };
        try {
          await run(() => rings.insertOne(document));
        } catch (error) {
          if (isDuplicateKey(error)) return undefined;
          throw error;
        }
        return toRing(document);
      }
      const updated = await run(() => rings.findOneAndUpdate(
        { _id: 'ring', version: expectedVersion },
        { $set: { keys: stored, version: expectedVersion + 1 } },
        { returnDocument: 'after' },
      ));
      return updated ? toRing(updated) : undefined;
    },
  };
}
