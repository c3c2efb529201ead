import mongoose from 'mongoose';
import type { ConnectOptions, Connection, mongo } from 'mongoose';

import { GatehouseError } from '../../errors.ts';
import type { Message } from '../../messages/messages.ts';
import type { StoreWriteFailure } from '../types.ts';

const { mongo: driver } = mongoose;

/** One open MongoDB connection, with the error handling every store operation goes through. */
export type MongoDatabase = {
  /** The URL's host list without credentials, for messages. */
  readonly hosts: string;
  collection<T extends mongo.Document>(name: string): mongo.Collection<T>;
  /** The native database handle (listCollections, commands). */
  db(): mongo.Db;
  /**
   * Runs one operation: driver network and server-selection failures become
   * GatehouseError('store_unavailable') (the app answers 503), and a duplicate key becomes
   * GatehouseError('conflict', …) with the given message.
   */
  run<T>(work: () => Promise<T>, conflict?: Message): Promise<T>;
  close(): Promise<void>;
};

/** `host1:port,host2` from a mongodb:// or mongodb+srv:// URL, leaving out any user and password. */
export function describeHosts(url: string): string {
  const match = /^mongodb(?:\+srv)?:\/\/(?:[^@/]*@)?([^/?]*)/.exec(url);
  return match?.[1] || 'an unknown host';
}

/** Whether the URL's query string sets a connection option (their names are case-insensitive). */
function urlHasOption(url: string, option: string): boolean {
  const query = url.split('?')[1];
  if (!query) return false;
  return [...new URLSearchParams(query).keys()].some((key) => key.toLowerCase() === option.toLowerCase());
}

function connectOptions(url: string): ConnectOptions {
  return {
    // Fail at once while MongoDB is away instead of queueing operations in memory.
    bufferCommands: false,
    // Indexes are created by migrate() only: building one on a large collection is the operator's call.
    autoIndex: false,
    autoCreate: false,
    // Options given here override the URL's, so the default applies only when the URL has none.
    ...(urlHasOption(url, 'serverSelectionTimeoutMS') ? {} : { serverSelectionTimeoutMS: 5000 }),
  };
}

function oneLine(message: string): string {
  return message.replace(/\s+/g, ' ').trim();
}

export function isDuplicateKey(error: unknown): boolean {
  return error instanceof driver.MongoServerError && error.code === 11000;
}

function isUnavailable(error: unknown): boolean {
  return (
    error instanceof driver.MongoNetworkError ||
    error instanceof driver.MongoServerSelectionError ||
    error instanceof driver.MongoOperationTimeoutError ||
    error instanceof driver.MongoNotConnectedError ||
    error instanceof driver.MongoTopologyClosedError ||
    error instanceof driver.MongoClientClosedError ||
    error instanceof driver.MongoServerClosedError ||
    error instanceof mongoose.Error.MongooseServerSelectionError ||
    // e.g. a primary stepping down mid-write, after the driver's own retry
    (error instanceof driver.MongoError && error.hasErrorLabel('RetryableWriteError'))
  );
}

/** Server error codes that say no primary takes writes now (a replica set electing, or only secondaries left). */
const noWritablePrimaryCodes = new Set([
  10107, // NotWritablePrimary
  13435, // NotPrimaryNoSecondaryOk
  13436, // NotPrimaryOrSecondary
  189, // PrimarySteppedDown
  11602, // InterruptedDueToReplStateChange
  91, // ShutdownInProgress
]);

/** Why a write failed, in /readyz's words (the SQLite backend names the same causes). */
export function describeWriteFailure(error: unknown): StoreWriteFailure {
  // `run` wraps what it recognises as an outage; the driver's error is the cause.
  const cause = error instanceof GatehouseError && error.code === 'store_unavailable' ? error.cause : error;
  if (cause instanceof driver.MongoServerError || cause instanceof driver.MongoWriteConcernError) {
    const code = typeof cause.code === 'number' ? cause.code : undefined;
    if (code === 14031) return 'disk full'; // OutOfDiskSpace
    if (code !== undefined && noWritablePrimaryCodes.has(code)) return 'no writable primary';
    // IllegalOperation from a mongod started read-only (queryableBackupMode, storage.readOnly).
    if (code === 20 && /read-?only/i.test(cause.message)) return 'read-only database';
    if (/no space left on device|out of disk space|space quota/i.test(cause.message)) return 'disk full';
  }
  if (cause instanceof driver.MongoError && cause.hasErrorLabel('RetryableWriteError')) return 'no writable primary';
  if (isUnavailable(cause) || error instanceof GatehouseError) return 'unreachable';
  return 'write failed';
}

function unavailable(hosts: string, error: unknown): GatehouseError {
  return new GatehouseError('store_unavailable', 'store.mongodb_at_unavailable', { hosts, value1: oneLine((error as Error).message) }, { cause: error });
}

/** Connects to MongoDB; throws GatehouseError('store_unavailable') in one line when it cannot. */
export async function openDatabase(url: string): Promise<MongoDatabase> {
  const hosts = describeHosts(url);
  // A connection of its own, not mongoose's global one: the store owns and closes it.
  let connection: Connection | undefined;
  try {
    connection = mongoose.createConnection(url, connectOptions(url));
    await connection.asPromise();
  } catch (error) {
    await connection?.close().catch(() => undefined);
    // By name: the URL parser the driver uses has a MongoParseError class of its own.
    if ((error as Error).name === 'MongoParseError' || error instanceof driver.MongoInvalidArgumentError) {
      throw new GatehouseError('invalid_config', 'store.invalid_mongodb_database_url', { value1: oneLine((error as Error).message) }, { cause: error });
    }
    throw new GatehouseError('store_unavailable', 'store.cannot_connect_mongodb_at', { hosts, value1: oneLine((error as Error).message) }, { cause: error });
  }
  const open = connection;
  let closed = false;

  return {
    hosts,
    collection<T extends mongo.Document>(name: string) {
      return open.collection<T>(name);
    },
    db() {
      if (!open.db) throw new GatehouseError('store_unavailable', 'store.mongodb_at_unavailable_connection_closed', { hosts });
      return open.db;
    },
    async run(work, conflict) {
      try {
        return await work();
      } catch (error) {
        if (isUnavailable(error)) throw unavailable(hosts, error);
        if (conflict !== undefined && isDuplicateKey(error)) throw new GatehouseError('conflict', conflict.id, conflict.values, { cause: error });
        throw error;
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await open.close();
    },
  };
}
