import { randomUUID } from 'node:crypto';

import { inject } from 'vitest';

/** The run's MongoDB server (see test/global-setup.ts), or undefined when there is none. */
export const mongodbUri: string | undefined = inject('mongodbUri') || undefined;

export function newDatabaseName(): string {
  return `gatehouse_test_${randomUUID().replaceAll('-', '')}`;
}

/** The server URI with its database path replaced, keeping host and options. */
export function mongodbUrl(name: string): string {
  const url = new URL(mongodbUri!);
  // Users authenticate against the URL's database unless authSource says otherwise: keep that one.
  if (url.username && !url.searchParams.has('authSource')) url.searchParams.set('authSource', url.pathname.slice(1) || 'admin');
  url.pathname = `/${name}`;
  return url.toString();
}

/** Drops a test database after its suite. */
export async function dropMongoDatabase(url?: string): Promise<void> {
  if (!url?.startsWith('mongodb')) return;
  const { default: mongoose } = await import('mongoose');
  const connection = await mongoose.createConnection(url).asPromise();
  try {
    await connection.dropDatabase();
  } finally {
    await connection.close();
  }
}
