import type { SigningKeyRecord, SigningKeyStore } from '../types.ts';
import type { MongoDatabase } from './database.ts';
import { isOnlyDuplicateKeys } from './database.ts';
import { escapeKeys, unescapeKeys } from './keys.ts';

export const signingKeysCollection = 'signing_keys';

type SigningKeyDocument = Omit<SigningKeyRecord, 'kid'> & { _id: string };

function toRecord(document: SigningKeyDocument): SigningKeyRecord {
  return {
    kid: document._id,
    alg: document.alg,
    state: document.state,
    publicJwk: unescapeKeys(document.publicJwk),
    encryptedPrivateJwk: document.encryptedPrivateJwk,
    createdAt: document.createdAt,
  };
}

export function createMongoSigningKeyStore(database: MongoDatabase): SigningKeyStore {
  const { run } = database;
  const keys = database.collection<SigningKeyDocument>(signingKeysCollection);

  async function list(): Promise<SigningKeyRecord[]> {
    const documents = await run(() => keys.find().sort({ createdAt: 1, _id: 1 }).toArray());
    return documents.map(toRecord);
  }

  return {
    list,
    async insert(records) {
      if (records.length > 0) {
        // $setOnInsert with upsert leaves a stored kid as it is; the unique index on current keys
        // per alg (see indexes.ts) rejects a second one, as when instances start together on an
        // empty database. Either way the first key stays and the later one is skipped, like the
        // SQLite backend's ON CONFLICT DO NOTHING.
        const operations = records.map((record) => ({
          updateOne: {
            filter: { _id: record.kid },
            update: {
              $setOnInsert: {
                alg: record.alg,
                state: record.state,
                publicJwk: escapeKeys(record.publicJwk),
                encryptedPrivateJwk: record.encryptedPrivateJwk,
                createdAt: record.createdAt,
              },
            },
            upsert: true,
          },
        }));
        await run(async () => {
          try {
            await keys.bulkWrite(operations, { ordered: false });
          } catch (error) {
            if (!isOnlyDuplicateKeys(error)) throw error;
          }
        });
      }
      return list();
    },
  };
}
