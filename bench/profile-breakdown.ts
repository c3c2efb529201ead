/**
 * Where a Gatehouse process spends its CPU per request against the bare library's, from the two CPU
 * profiles of one `npm run bench -- --only … --cpu-prof` run (bench/results/profiles/gatehouse and
 * …/baseline): self time by category (the SQLite store, the provider, Koa, Node's HTTP, GC, …)
 * divided by the requests each server answered (req/s × the scenario's seconds, from the run's table).
 *
 *   node bench/profile-breakdown.ts <gatehouse.cpuprofile> <baseline.cpuprofile> <gatehouse requests> <baseline requests>
 */
import { readFileSync } from 'node:fs';

type CallFrame = { functionName: string; url: string };
type Profile = { nodes: Array<{ id: number; callFrame: CallFrame }>; samples: number[]; timeDeltas: number[] };
const koaish = new Set(['koa','koa-compose','delegates','on-finished','type-is','vary','mime-types','mime-db','ee-first','statuses','http-errors','cookies','keygrip','content-type','accepts','negotiator','koa-mount','@koa','koa-body','co-body','raw-body','fresh','content-disposition','only','encodeurl','escape-html','depd','destroy','parseurl','http-assert','deep-equal','media-typer','inflation','iconv-lite','bytes','unpipe','toidentifier','setprototypeof','inherits','cache-content-type','ylru','@hapi','path-to-regexp','debug','ms','formidable','koa-compose']);
function categorize(cf: CallFrame): string | null {
  const u = cf.url;
  if (cf.functionName === '(idle)') return null;
  if (cf.functionName === '(garbage collector)') return 'GC';
  if (cf.functionName === 'writeUtf8String' || cf.functionName === 'writev' || cf.functionName === 'writeBuffer') return 'socket writes (syscall)';
  if (u.includes('node_modules/')) { const p = u.split('node_modules/').pop()!.split('/') as [string, string]; const pkg = p[0].startsWith('@') ? p[0] + '/' + p[1] : p[0];
    if (pkg === 'oidc-provider') return 'oidc-provider'; if (pkg === 'jose') return 'jose (JWT, JWS)'; if (koaish.has(pkg) || koaish.has(p[0])) return 'Koa and its helpers'; return 'other packages (' + pkg + ')'; }
  if (u.includes('/src/store/')) return 'Gatehouse: SQLite store';
  if (u.includes('/src/limits/')) return 'Gatehouse: limits';
  if (u.includes('/src/oidc/')) return 'Gatehouse: provider configuration and adapter';
  if (u.includes('/src/web/') || u.endsWith('/src/app.ts') || u.endsWith('/src/server.ts')) return 'Gatehouse: web layer (headers, middleware)';
  if (u.includes('/src/')) return 'Gatehouse: other';
  if (u.includes('crypto')) return 'node: crypto';
  if (u) return 'node: http, streams, timers, ALS';
  return 'native/other (' + cf.functionName + ')';
}
function load(path: string): Map<string, number> {
  const prof = JSON.parse(readFileSync(path, 'utf8')) as Profile;
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const t = new Map<string, number>();
  prof.samples.forEach((id, i) => { const c = categorize(byId.get(id)!.callFrame); if (c) t.set(c, (t.get(c) ?? 0) + (prof.timeDeltas[i] ?? 0)); });
  return t;
}
const [g, b, ng, nb] = process.argv.slice(2) as [string, string, string, string];
const G = load(g), B = load(b);
const keys = [...new Set([...G.keys(), ...B.keys()])];
const rows = keys.map((k): [string, number, number] => [k, (G.get(k) ?? 0) / Number(ng), (B.get(k) ?? 0) / Number(nb)]).sort((x, y) => (y[1] - y[2]) - (x[1] - x[2]));
let tg = 0, tb = 0;
console.log('| where the CPU goes (profiler samples) | Gatehouse µs/req | bare µs/req | difference |');
console.log('|---|---:|---:|---:|');
for (const [k, gv, bv] of rows) { tg += gv; tb += bv; if (gv + bv < 1.5) continue; console.log(`| ${k} | ${gv.toFixed(0)} | ${bv.toFixed(0)} | ${(gv - bv) >= 0 ? '+' : ''}${(gv - bv).toFixed(0)} |`); }
console.log(`| total | ${tg.toFixed(0)} | ${tb.toFixed(0)} | +${(tg - tb).toFixed(0)} |`);
