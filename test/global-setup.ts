import { lookup } from 'node:dns/promises';

import { DryMongoBinary, MongoMemoryServer } from 'mongodb-memory-server-core';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A MongoDB server for this run, or '' when none is available (those tests skip). */
    mongodbUri: string;
  }
}

/**
 * True when no mongod is at hand and its download server's name does not even resolve (no
 * internet): then trying costs seconds of retries for nothing. With a proxy configured, or a binary
 * already downloaded or given (MONGOMS_SYSTEM_BINARY), or anything unexpected, false: try as before.
 */
async function surelyUnreachable(): Promise<boolean> {
  const proxies = ['yarn_https-proxy', 'yarn_proxy', 'npm_config_https-proxy', 'npm_config_proxy', 'https_proxy', 'http_proxy', 'HTTPS_PROXY', 'HTTP_PROXY'];
  if (proxies.some((name) => process.env[name])) return false;
  try {
    if (await DryMongoBinary.locateBinary(DryMongoBinary.getEnsuredOptions())) return false;
    const source = process.env.MONGOMS_DOWNLOAD_URL || process.env.MONGOMS_DOWNLOAD_MIRROR || 'https://fastdl.mongodb.org';
    let timer: NodeJS.Timeout | undefined;
    const resolved = await Promise.race([
      lookup(new URL(source).hostname).then(() => true, () => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(resolve, 5_000, true);
      }),
    ]).finally(() => clearTimeout(timer));
    return !resolved;
  } catch {
    return false;
  }
}

/** A throwaway mongod, when a binary can be had (downloading one needs the internet). */
async function startMemoryServer(): Promise<MongoMemoryServer | undefined> {
  if (await surelyUnreachable()) return undefined;
  const creating = MongoMemoryServer.create({
    // The TTL monitor would otherwise delete expired documents under the contract's sweep test.
    instance: { args: ['--setParameter', 'ttlMonitorSleepSecs=3600'] },
  });
  let timer: NodeJS.Timeout | undefined;
  const gaveUp = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, 20_000, undefined);
  });
  // mongodb-memory-server prints a multi-line warning when it fails; the tests report one line.
  const warn = console.warn;
  console.warn = () => {};
  try {
    const server = await Promise.race([creating, gaveUp]);
    if (!server) creating.then((late) => late.stop()).catch(() => undefined);
    return server;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    console.warn = warn;
  }
}

/** Decides once per run where MongoDB tests go: MONGODB_URI, else a memory server, else nowhere. */
export default async function setup(project: TestProject) {
  const server = process.env.MONGODB_URI ? undefined : await startMemoryServer();
  project.provide('mongodbUri', process.env.MONGODB_URI ?? server?.getUri() ?? '');
  return async () => {
    await server?.stop();
  };
}
