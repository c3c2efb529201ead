import { MongoMemoryServer } from 'mongodb-memory-server-core';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    /** A MongoDB server for this run, or '' when none is available (those tests skip). */
    mongodbUri: string;
  }
}

/** A throwaway mongod, when a binary can be had (downloading one needs the internet). */
async function startMemoryServer(): Promise<MongoMemoryServer | undefined> {
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
