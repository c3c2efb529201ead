import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../src/store/sqlite/database.ts';
import { createSqliteOidcStore } from '../src/store/sqlite/oidc-models.ts';
const payload = { iat: 1, exp: 2, accountId: 'a'.repeat(36), clientId: 'c'.repeat(32), grantId: 'g'.repeat(21), scope: 'openid email profile', kind: 'AccessToken', jti: '', gty: 'authorization_code', sessionUid: 'u'.repeat(21) };
async function run(label: string, pragmas: string[]) {
  const dir = mkdtempSync(join(tmpdir(), 'sqlm-'));
  const db = openDatabase(join(dir, 'g.db'));
  for (const p of pragmas) db.exec(p);
  const m = createSqliteOidcStore(db).model('AccessToken');
  const n = 5000;
  const t = performance.now();
  for (let i = 0; i < n; i++) await m.upsert(`id${i}`, { ...payload, jti: `id${i}` }, 3600);
  const up = (performance.now() - t) * 1000 / n;
  const t2 = performance.now();
  for (let i = 0; i < n; i++) await m.destroy(`id${i}`);
  console.log(label, 'upsert µs', up.toFixed(1), 'destroy µs', ((performance.now() - t2) * 1000 / n).toFixed(1));
  db.close();
}
await run('default', []);
await run('sync OFF', ['PRAGMA synchronous = OFF']);
await run('autocheckpoint 10000', ['PRAGMA wal_autocheckpoint = 10000']);
await run('no secondary idx', ['DROP INDEX oidc_models_grant_id', 'DROP INDEX oidc_models_uid', 'DROP INDEX oidc_models_user_code', 'DROP INDEX oidc_models_account_id', 'DROP INDEX oidc_models_expires_at']);
await run('default again', []);
await run('no autocheckpoint', ['PRAGMA wal_autocheckpoint = 0']);
await run('no ckpt + no idx', ['PRAGMA wal_autocheckpoint = 0', 'DROP INDEX oidc_models_grant_id', 'DROP INDEX oidc_models_uid', 'DROP INDEX oidc_models_user_code', 'DROP INDEX oidc_models_account_id', 'DROP INDEX oidc_models_expires_at']);
await run('sync off no ckpt', ['PRAGMA wal_autocheckpoint = 0', 'PRAGMA synchronous = OFF']);
