import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { pathToFileURL } from 'node:url';

import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import { createSweeper } from '../../src/sweeper.ts';

/**
 * `batched`: the sweeper (src/sweeper.ts), small batches with the event loop running in between.
 * `single-statement`: what the server did before, one DELETE per table, all in one turn.
 */
export type SweepMode = 'batched' | 'single-statement';

export type SweepStallFigures = {
  mode: SweepMode;
  /** Expired oidc records swept (plus `extraRows` expired one-time codes and as many rate limit counters). */
  rows: number;
  extraRows: number;
  /** The longest the event loop of this process stalled while the sweep ran. */
  worstStallMs: number;
  /** How long the whole sweep took. */
  sweepMs: number;
  /** Delete statements run (1 per table for `single-statement`). */
  batches: number;
  /** The WAL file's size once the sweep was done. */
  walBytes: number;
};

/** What the server ran every sweepIntervalSeconds before the sweeper (kept here as the baseline). */
const singleStatements = [
  'DELETE FROM oidc_models WHERE expires_at IS NOT NULL AND expires_at <= ?',
  'DELETE FROM one_time_codes WHERE expires_at < ?',
  'DELETE FROM rate_limits WHERE expires_at IS NOT NULL AND expires_at <= ?',
];

const models = ['AccessToken', 'Session', 'Grant', 'Interaction', 'RefreshToken', 'AuthorizationCode'];

/** Writes the rows straight into the file, in one transaction: filling takes a fraction of a second. */
function fill(path: string, rows: number, extraRows: number, now: number): void {
  const db = new DatabaseSync(path);
  try {
    db.exec('BEGIN');
    const oidc = db.prepare(`INSERT INTO oidc_models (model, id, payload, grant_id, user_code, uid, account_id, expires_at)
      VALUES (?, ?, ?, ?, NULL, ?, ?, ?)`);
    // Every row expired a little while ago, as after an outage; a few live ones must stay.
    const live = Math.ceil(rows / 10);
    for (let index = 0; index < rows + live; index += 1) {
      const model = models[index % models.length]!;
      const id = `${model}-${index.toString(36).padStart(8, '0')}-${'x'.repeat(24)}`;
      const grantId = `grant-${Math.floor(index / 3)}`;
      const accountId = `account-${index % 5000}`;
      const payload = JSON.stringify({ jti: id, kind: model, grantId, accountId, clientId: 'bench-client', scope: 'openid email profile', iat: 1, exp: 2 });
      const expiresAt = index < rows ? now - 1000 - index : now + 3_600_000;
      oidc.run(model, id, payload, grantId, model === 'Session' ? `uid-${index}` : null, accountId, expiresAt);
    }
    const code = db.prepare(`INSERT INTO one_time_codes (id, purpose, email, account_id, code_hash, link_hash, attempts, created_at, expires_at)
      VALUES (?, 'verify_email', ?, ?, ?, ?, 0, ?, ?)`);
    const counter = db.prepare('INSERT INTO rate_limits (key, points, expires_at) VALUES (?, 1, ?)');
    for (let index = 0; index < extraRows; index += 1) {
      code.run(`code-${index}`, `person${index}@example.com`, `account-${index}`, `hash-${index}`, `link-${index}`, now - 900_000, now - 1000 - index);
      counter.run(`limit:login:203.0.113.${index % 250}:${index}`, now - 1000 - index);
    }
    db.exec('COMMIT');
    // The sweep starts from an empty WAL, so its size afterwards is the sweep's doing.
    db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  } finally {
    db.close();
  }
}

function count(path: string, sql: string, now: number): number {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    return (db.prepare(sql).get(now) as { n: number }).n;
  } finally {
    db.close();
  }
}

/**
 * Fills a real SQLite store with `rows` expired oidc records (plus expired codes and counters and
 * some live records), sweeps it once while watching this process's event loop, and checks that
 * everything expired, and nothing else, is gone.
 */
export async function measureSweepStall(options: { rows?: number; extraRows?: number; mode?: SweepMode } = {}): Promise<SweepStallFigures> {
  const { rows = 110_000, extraRows = Math.ceil((options.rows ?? 110_000) / 20), mode = 'batched' } = options;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-sweep-stall-'));
  const path = join(dir, 'gatehouse.db');
  const store = openSqliteStore(path);
  try {
    const now = Date.now();
    fill(path, rows, extraRows, now);
    const liveBefore = count(path, 'SELECT count(*) AS n FROM oidc_models WHERE expires_at > ?', now);

    const delay = monitorEventLoopDelay({ resolution: 1 });
    delay.enable();
    await sleep(50);
    const started = performance.now();
    let batches: number;
    if (mode === 'batched') {
      const report = await createSweeper({ store, logger: { warn: () => {} }, budgetMs: Number.POSITIVE_INFINITY }).sweep();
      if (!report.complete) throw new Error('the sweep did not finish');
      batches = report.batches;
    } else {
      const db = new DatabaseSync(path);
      const statements = singleStatements.map((sql) => db.prepare(sql));
      await sleep(10);
      const at = Date.now();
      // As the server did: Promise.all over the three (synchronous) deletes, all in one turn.
      await Promise.all(statements.map(async (statement) => statement.run(at)));
      db.close();
      batches = statements.length;
    }
    const sweepMs = performance.now() - started;
    await sleep(50);
    delay.disable();

    const expiredLeft = count(path, 'SELECT count(*) AS n FROM oidc_models WHERE expires_at <= ?', now)
      + count(path, 'SELECT count(*) AS n FROM one_time_codes WHERE expires_at <= ?', now)
      + count(path, 'SELECT count(*) AS n FROM rate_limits WHERE expires_at <= ?', now);
    if (expiredLeft) throw new Error(`${expiredLeft} expired rows were left`);
    if (count(path, 'SELECT count(*) AS n FROM oidc_models WHERE expires_at > ?', now) !== liveBefore) throw new Error('live rows were deleted');
    return {
      mode,
      rows,
      extraRows,
      worstStallMs: Math.round(delay.max / 1e4) / 100,
      sweepMs: Math.round(sweepMs),
      batches,
      walBytes: statSync(`${path}-wal`).size,
    };
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// `node bench/lib/sweep-stall.ts [rows]` prints the figures of both modes.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = Number(process.argv[2] ?? 110_000);
  for (const mode of ['single-statement', 'batched'] as const) {
    const figures = await measureSweepStall({ rows, mode });
    console.log(`${mode.padEnd(16)} ${figures.rows} oidc rows + ${figures.extraRows} codes + ${figures.extraRows} counters: `
      + `worst event-loop stall ${figures.worstStallMs} ms, sweep ${figures.sweepMs} ms in ${figures.batches} statements, WAL ${(figures.walBytes / 1048576).toFixed(1)} MiB`);
  }
}
