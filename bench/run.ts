#!/usr/bin/env node
/**
 * npm run bench [-- --quick] [-- --only discovery,userinfo,growth,sweep] [-- --cpu-prof]
 *               [-- --skip-memory] [-- --skip-scaling] [-- --skip-growth] [-- --skip-glewlwyd]
 *
 * Gatehouse as production runs it (NODE_ENV=production, secrets in the environment, a migrated
 * SQLite database; MongoDB too when MONGODB_URI is set) against bare oidc-provider with its
 * in-memory adapter in a minimal Koa host (bench/baseline-provider.ts) and a plain node:http hello
 * server, each in its own process, loaded from this one. Prints tables and writes
 * bench/results/<time>.json. Asserts no timings: it measures (and stays out of `npm test`).
 *
 * Set-up: Node 24 and `npm ci`. Optionally Glewlwyd, a third server for discovery, JWKS, client
 * credentials and introspection (configured by bench/lib/glewlwyd.ts, on loopback only):
 *
 *   apt-get update && apt-get install -y glewlwyd      # Debian bookworm: 2.7.5
 *
 * Without it the bench says so in one line and runs the rest.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

import { hashOptionsFrom } from '../src/libraries/passwords.ts';
import { loadConfig } from '../src/config/load-config.ts';
import type { Argon2Figures } from './lib/argon.ts';
import { measureArgon2 } from './lib/argon.ts';
import type { BaselineSetup, BenchClients } from './lib/fixture.ts';
import { basicAuth, benchApis, refreshScope, webScope } from './lib/fixture.ts';
import type { FlowLoadResult, FlowStep } from './lib/flows.ts';
import { authorizationCodeFlow, Browser, flowLoad, flowSteps, mintTokens } from './lib/flows.ts';
import type { Glewlwyd } from './lib/glewlwyd.ts';
import { clientSecretPbkdf2Iterations, startGlewlwyd } from './lib/glewlwyd.ts';
import { form } from './lib/http.ts';
import type { LoadRequest, LoadStats } from './lib/load.ts';
import { combine, coresUsed, cpuMicrosPerRequest, load, percentile } from './lib/load.ts';
import { fileBytes, seedBaseline, seedGatehouse, touchSeeded } from './lib/memory.ts';
import { cpuMs, residentKiB } from './lib/proc.ts';
import { prepareDatabase } from './lib/prepare.ts';
import type { ServerProcess } from './lib/processes.ts';
import { freePort, repoRoot, startServerProcess } from './lib/processes.ts';
import { fmt, machineInfo, table } from './lib/report.ts';

const { values: options } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    'skip-memory': { type: 'boolean', default: false },
    'skip-scaling': { type: 'boolean', default: false },
    'skip-growth': { type: 'boolean', default: false },
    'skip-glewlwyd': { type: 'boolean', default: false },
  },
});

const quick = options.quick;
const settings = quick
  ? { seconds: 1, warmupSeconds: 0.3, rounds: 1, connections: 10, flowConcurrency: 4, flowSeconds: 2, argonCount: 5, sessions: 1000, tokens: 10_000, touch: 100 }
  : { seconds: 3, warmupSeconds: 1, rounds: 2, connections: 10, flowConcurrency: 4, flowSeconds: 8, argonCount: 20, sessions: 10_000, tokens: 100_000, touch: 1000 };
const only = options.only ? new Set(options.only.split(',')) : undefined;

/** One server under test, with what the scenarios need from it. */
type Target = {
  id: string;
  label: string;
  server: ServerProcess;
  clients: BenchClients;
  /** An opaque access token for the web client (introspection, userinfo). */
  accessToken?: string;
  /** Fresh refresh tokens of the public client; each request takes one and puts back the rotated one. */
  refreshTokens: string[];
};

type Scenario = {
  id: string;
  title: string;
  request: (target: Target) => LoadRequest;
  /** The same scenario on Glewlwyd, when it is installed (a third server in the same rounds). */
  glewlwyd?: (server: Glewlwyd) => LoadRequest;
  scaling?: boolean;
  scalingQuick?: boolean;
};

const scenarios: Scenario[] = [
  { id: 'discovery', title: 'Discovery document', scaling: true, scalingQuick: true, request: () => ({ path: '/.well-known/openid-configuration' }), glewlwyd: (server) => server.requests.discovery() },
  { id: 'jwks', title: 'JWKS', request: () => ({ path: '/jwks' }), glewlwyd: (server) => server.requests.jwks() },
  // Before client credentials: Glewlwyd stores every JWT it issues, and its token-scope table has no
  // index, so its introspection slows down as tokens pile up.
  {
    id: 'introspection', title: 'Introspection (opaque token)', scaling: true,
    request: (target) => ({ method: 'POST', path: '/token/introspection', headers: { authorization: basicAuth(target.clients.web) }, body: form({ token: target.accessToken! }) }),
    glewlwyd: (server) => server.requests.introspection(),
  },
  ...benchApis.map((api): Scenario => ({
    id: `client-credentials-${api.signingAlg.toLowerCase()}`,
    title: `Client credentials → JWT (${api.signingAlg})`,
    scaling: api.signingAlg === 'ES256',
    request: (target) => ({
      method: 'POST', path: '/token', headers: { authorization: basicAuth(target.clients.service) },
      body: form({ grant_type: 'client_credentials', scope: 'read', resource: api.identifier }),
    }),
    ...(api.signingAlg === 'RS256' ? { glewlwyd: (server: Glewlwyd) => server.requests.clientCredentials() } : {}),
  })),
  { id: 'userinfo', title: 'Userinfo', scaling: true, request: (target) => ({ path: '/me', headers: { authorization: `Bearer ${target.accessToken!}` } }) },
  {
    id: 'refresh', title: 'Refresh token grant (rotation)',
    request: (target) => ({
      method: 'POST', path: '/token',
      setupBody: () => form({ grant_type: 'refresh_token', client_id: target.clients.spa.clientId, refresh_token: target.refreshTokens.shift() ?? 'pool-exhausted' }),
      onResponse: (status, body) => {
        if (status === 200) target.refreshTokens.push((JSON.parse(body) as { refresh_token: string }).refresh_token);
      },
    }),
  },
];

const selected = (id: string) => !only || only.has(id);

const began = Date.now();
function log(line: string) {
  process.stderr.write(`[${((Date.now() - began) / 1000).toFixed(0).padStart(3)} s] ${line}\n`);
}

/**
 * Runs one scenario on several servers: a warm-up each, then `rounds` rounds in which the order
 * alternates (A B, then B A, …), so that slow drifts and bursts of machine noise hit all alike.
 */
async function compare(targets: Target[], request: (target: Target) => LoadRequest): Promise<Record<string, LoadStats>> {
  const rounds = new Map<string, LoadStats[]>(targets.map((target) => [target.id, []]));
  for (const target of targets) await load(target.server.base, request(target), { connections: settings.connections, seconds: settings.warmupSeconds });
  for (let round = 0; round < settings.rounds * 2; round += 1) {
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    // Full runs: A B B A A B …; the quick run: A B.
    if (settings.rounds === 1 && round === 1) break;
    for (const target of order) {
      const cpuBefore = cpuMs(target.server.child.pid!);
      const clientBefore = process.cpuUsage();
      const stats = await load(target.server.base, request(target), { connections: settings.connections, seconds: settings.seconds });
      const client = process.cpuUsage(clientBefore);
      const cpuAfter = cpuMs(target.server.child.pid!);
      rounds.get(target.id)!.push({
        ...stats,
        clientCpuMs: (client.user + client.system) / 1000,
        ...(cpuBefore !== undefined && cpuAfter !== undefined ? { cpuMs: cpuAfter - cpuBefore } : {}),
      });
    }
  }
  return Object.fromEntries([...rounds].map(([id, stats]) => [id, combine(stats)]));
}

type FlowSummary = {
  flowsPerSecond: number;
  /** Server CPU per completed flow (all threads: the argon2 verification too), milliseconds. */
  cpuMsPerFlow?: number;
  flows: number;
  errors: number;
  firstError?: string;
  steps: Record<FlowStep | 'total', { p50: number; p99: number }>;
};

function summarizeFlows(results: FlowLoadResult[]): FlowSummary {
  const flows = results.reduce((sum, result) => sum + result.flows, 0);
  const seconds = results.reduce((sum, result) => sum + result.seconds, 0);
  const steps = Object.fromEntries((['total', ...flowSteps] as const).map((step) => {
    const samples = results.flatMap((result) => result.samples[step]);
    return [step, { p50: percentile(samples, 50), p99: percentile(samples, 99) }];
  })) as FlowSummary['steps'];
  const firstError = results.find((result) => result.firstError)?.firstError;
  return { flowsPerSecond: flows / seconds, flows, errors: results.reduce((sum, result) => sum + result.errors, 0), ...(firstError ? { firstError } : {}), steps };
}

async function compareFlows(targets: Target[]): Promise<Record<string, FlowSummary>> {
  const runs = new Map<string, FlowLoadResult[]>(targets.map((target) => [target.id, []]));
  const run = (target: Target, durationMs: number) => flowLoad(target.server.base, target.clients.web, webScope, { concurrency: settings.flowConcurrency, durationMs });
  for (const target of targets) await run(target, settings.warmupSeconds * 1000);
  const order = settings.rounds === 1 ? targets : [...targets, ...[...targets].reverse()];
  const cpu = new Map<string, number>();
  for (const target of order) {
    const cpuBefore = cpuMs(target.server.child.pid!) ?? Number.NaN;
    runs.get(target.id)!.push(await run(target, (settings.flowSeconds * 1000) / (order.length / targets.length)));
    cpu.set(target.id, (cpu.get(target.id) ?? 0) + (cpuMs(target.server.child.pid!) ?? Number.NaN) - cpuBefore);
  }
  return Object.fromEntries([...runs].map(([id, results]) => {
    const summary = summarizeFlows(results);
    return [id, { ...summary, cpuMsPerFlow: cpu.get(id)! / summary.flows }];
  }));
}

async function prepareTarget(target: Target, poolSize: number): Promise<void> {
  const tokens = await authorizationCodeFlow(new Browser(target.server.base), target.clients.web, webScope);
  target.accessToken = tokens.access_token;
  if (selected('refresh')) {
    const minted = await mintTokens(target.server.base, target.clients.spa, refreshScope, poolSize);
    target.refreshTokens.push(...minted.map((token) => token.refresh_token!));
  }
}

async function main(): Promise<void> {
  const machine = machineInfo();
  const startedAt = new Date();
  log(`Gatehouse bench${quick ? ' (quick)' : ''}: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, commit ${machine.gitCommit}${machine.gitDirty ? ' (with uncommitted changes)' : ''}`);
  log('Each scenario alternates between the servers, so that noise from other work on this machine hits all of them alike; absolute figures still vary from run to run.');

  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-'));
  const servers: ServerProcess[] = [];
  const stopAll = async () => {
    await Promise.allSettled(servers.map((server) => server.stop()));
  };
  process.once('SIGINT', () => {
    void stopAll().finally(() => process.exit(130));
  });

  try {
    const keyEncryptionKey = randomBytes(32);
    const cookieKeys = [randomBytes(32).toString('base64url')];
    const [gatehousePort, baselinePort, helloPort, scalingPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const gatehouseEnv = (port: number, databaseUrl: string, workers: number): NodeJS.ProcessEnv => ({
      NODE_ENV: 'production',
      PORT: String(port),
      ISSUER: `http://127.0.0.1:${port}`,
      DATABASE_URL: databaseUrl,
      DATA_DIR: dir,
      COOKIE_KEYS: cookieKeys.join(','),
      KEY_ENCRYPTION_KEY: keyEncryptionKey.toString('base64'),
      // Required in production; nothing in these scenarios sends mail.
      SMTP_URL: 'smtp://127.0.0.1:25',
      WORKERS: String(workers),
    });
    const sqliteUrl = `sqlite:${join(dir, 'gatehouse.db')}`;
    const config = loadConfig(gatehouseEnv(gatehousePort, sqliteUrl, 1));
    const profiled = (name: string) => (options['cpu-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${join(repoRoot, 'bench', 'results', 'profiles', name)}`] : []);
    const execArgv = profiled('gatehouse');

    log('preparing the database (migrate, user, clients, APIs)…');
    const prepared = await prepareDatabase(config, keyEncryptionKey);
    const baselineSetup: BaselineSetup = {
      port: baselinePort, issuer: `http://127.0.0.1:${baselinePort}`, cookieKeys, ...prepared.baseline,
      // Sessions: Gatehouse's idle lifetime for a password-only sign-in.
      ttl: { ...config.ttl, session: config.sessions.passwordOnly.idleSeconds },
    };

    log('starting Gatehouse (production, SQLite, 1 worker), the baseline and the hello server…');
    const [gatehouse, baseline, hello] = await Promise.all([
      startServerProcess('Gatehouse', 'src/main.ts', gatehouseEnv(gatehousePort, sqliteUrl, 1), `http://127.0.0.1:${gatehousePort}`, '/readyz', execArgv),
      startServerProcess('baseline', 'bench/baseline-provider.ts', { BENCH_BASELINE: JSON.stringify(baselineSetup) }, baselineSetup.issuer, '/.well-known/openid-configuration', profiled('baseline')),
      startServerProcess('hello', 'bench/hello-server.ts', { PORT: String(helloPort) }, `http://127.0.0.1:${helloPort}`, '/'),
    ]);
    servers.push(gatehouse, baseline, hello);

    let glewlwyd: Glewlwyd | undefined;
    const glewlwydScenarios = scenarios.filter((scenario) => scenario.glewlwyd && selected(scenario.id));
    if (options['skip-glewlwyd']) {
      log('Glewlwyd: skipped (--skip-glewlwyd)');
    } else if (glewlwydScenarios.length) {
      const glewlwydDir = join(dir, 'glewlwyd');
      mkdirSync(glewlwydDir);
      try {
        glewlwyd = await startGlewlwyd({ dir: glewlwydDir, port: await freePort(), accessTokenSeconds: config.ttl.clientCredentials, log });
      } catch (error) {
        // Installed but not working: say why, and measure the rest.
        log(`Glewlwyd could not be set up, skipped: ${(error as Error).message}`);
      }
      if (glewlwyd) {
        servers.push(glewlwyd.server);
        log(`started Glewlwyd ${glewlwyd.version ?? ''} (SQLite, OIDC plugin, RSA-2048) for ${glewlwydScenarios.map((scenario) => scenario.id).join(', ')}`);
      }
    }
    const idleKiB = {
      gatehouse: residentKiB(gatehouse.child.pid!), baseline: residentKiB(baseline.child.pid!), hello: residentKiB(hello.child.pid!),
      ...(glewlwyd ? { glewlwyd: residentKiB(glewlwyd.server.child.pid!) } : {}),
    };

    const targets: Target[] = [
      { id: 'gatehouse', label: 'Gatehouse (SQLite)', server: gatehouse, clients: prepared.clients, refreshTokens: [] },
      { id: 'baseline', label: 'oidc-provider (bare)', server: baseline, clients: prepared.clients, refreshTokens: [] },
    ];

    if (process.env.MONGODB_URI) {
      const url = new URL(process.env.MONGODB_URI);
      if (url.username && !url.searchParams.has('authSource')) url.searchParams.set('authSource', url.pathname.slice(1) || 'admin');
      url.pathname = `/gatehouse_bench_${Date.now()}`;
      const mongoUrl = url.toString();
      mongoUrlToDrop = mongoUrl;
      const mongoPort = await freePort();
      const mongoEnv = gatehouseEnv(mongoPort, mongoUrl, 1);
      log('preparing MongoDB and starting Gatehouse on it…');
      const mongoPrepared = await prepareDatabase(loadConfig(mongoEnv), keyEncryptionKey);
      const server = await startServerProcess('Gatehouse (MongoDB)', 'src/main.ts', mongoEnv, `http://127.0.0.1:${mongoPort}`, '/readyz', execArgv);
      servers.push(server);
      targets.splice(1, 0, { id: 'gatehouse-mongodb', label: 'Gatehouse (MongoDB)', server, clients: mongoPrepared.clients, refreshTokens: [] });
    }

    log(`argon2id at the configured parameters (${settings.argonCount} hashes)…`);
    const argon2: Argon2Figures = await measureArgon2(hashOptionsFrom(config.passwords.argon2), settings.argonCount);

    log('signing in to get tokens for the scenarios…');
    const runsPerTarget = settings.rounds === 1 ? 2 : 1 + settings.rounds;
    for (const target of targets) await prepareTarget(target, settings.connections * (runsPerTarget + 1) + 10);

    const results: Record<string, Record<string, LoadStats>> = {};
    let helloStats: LoadStats | undefined;
    if (selected('hello')) {
      log('hello: the ceiling of one Node process…');
      const helloTarget = { id: 'hello', label: 'node:http hello', server: hello, clients: prepared.clients, refreshTokens: [] };
      helloStats = (await compare([helloTarget], () => ({ path: '/' }))).hello;
    }
    const glewlwydTarget: Target | undefined = glewlwyd
      ? { id: 'glewlwyd', label: `Glewlwyd ${glewlwyd.version ?? ''} (SQLite)`.replace('  ', ' '), server: glewlwyd.server, clients: prepared.clients, refreshTokens: [] }
      : undefined;
    for (const scenario of scenarios.filter((candidate) => selected(candidate.id))) {
      const withGlewlwyd = glewlwyd && glewlwydTarget && scenario.glewlwyd;
      log(`${scenario.title}${withGlewlwyd ? ' (with Glewlwyd)' : ''}…`);
      results[scenario.id] = withGlewlwyd
        ? await compare([...targets, glewlwydTarget], (target) => (target.id === 'glewlwyd' ? scenario.glewlwyd!(glewlwyd!) : scenario.request(target)))
        : await compare(targets, scenario.request);
    }
    let flows: Record<string, FlowSummary> | undefined;
    if (selected('flow')) {
      log('authorization code + PKCE flow through the login and consent pages…');
      flows = await compareFlows(targets);
    }
    const loadedKiB = {
      gatehouse: residentKiB(gatehouse.child.pid!), baseline: residentKiB(baseline.child.pid!),
      ...(glewlwyd ? { glewlwyd: residentKiB(glewlwyd.server.child.pid!) } : {}),
    };
    if (glewlwyd) {
      await glewlwyd.server.stop();
      servers.splice(servers.indexOf(glewlwyd.server), 1);
    }

    // Scaling: the same database, a second Gatehouse with WORKERS=2, alternated with the first.
    let scaling: { id: string; title: string; one: LoadStats; two: LoadStats }[] | undefined;
    const scalingScenarios = scenarios.filter((scenario) => selected(scenario.id) && (quick ? scenario.scalingQuick : scenario.scaling));
    if (!options['skip-scaling'] && scalingScenarios.length) {
      log('starting Gatehouse with WORKERS=2 on the same database…');
      const two = await startServerProcess('Gatehouse (2 workers)', 'src/main.ts', gatehouseEnv(scalingPort, sqliteUrl, 2), `http://127.0.0.1:${scalingPort}`, '/readyz', execArgv);
      servers.push(two);
      const twoTarget: Target = { id: 'two', label: 'Gatehouse, 2 workers', server: two, clients: prepared.clients, refreshTokens: [] };
      await prepareTarget(twoTarget, 0);
      const oneTarget = targets[0]!;
      scaling = [];
      for (const scenario of scalingScenarios) {
        log(`scaling: ${scenario.title}…`);
        const stats = await compare([{ ...oneTarget, id: 'one' }, twoTarget], scenario.request);
        scaling.push({ id: scenario.id, title: scenario.title, one: stats.one!, two: stats.two! });
      }
      await two.stop();
    }

    // Memory: 10,000 live sessions and 100,000 stored tokens.
    let memory: Record<string, unknown> | undefined;
    const seedRequest = { clientId: prepared.clients.web.clientId, accountId: prepared.accountId, scope: webScope, sessions: settings.sessions, tokens: settings.tokens, sample: settings.touch };
    if (!options['skip-memory']) {
      log(`memory: ${settings.sessions.toLocaleString('en-US')} sessions and ${settings.tokens.toLocaleString('en-US')} access tokens…`);
      const request = seedRequest;
      const seeded = await seedGatehouse(sqliteUrl, keyEncryptionKey, cookieKeys, gatehouse.base, config.ttl, request);
      const gatehouseTouched = await touchSeeded(gatehouse.base, prepared.clients.web, webScope, seeded, cookieKeys[0]!);
      const baselineSeeded = await seedBaseline(baseline.base, request);
      const baselineTouched = await touchSeeded(baseline.base, prepared.clients.web, webScope, baselineSeeded, cookieKeys[0]!);
      memory = {
        sessions: settings.sessions,
        tokens: settings.tokens,
        gatehouse: { idleKiB: idleKiB.gatehouse, afterLoadKiB: loadedKiB.gatehouse, afterSeedKiB: residentKiB(gatehouse.child.pid!), databaseBytes: fileBytes(join(dir, 'gatehouse.db')), touched: gatehouseTouched },
        baseline: { idleKiB: idleKiB.baseline, afterLoadKiB: loadedKiB.baseline, afterSeedKiB: residentKiB(baseline.child.pid!), touched: baselineTouched },
        hello: { idleKiB: idleKiB.hello },
        ...(glewlwyd ? { glewlwyd: { idleKiB: idleKiB.glewlwyd, afterLoadKiB: loadedKiB.glewlwyd } } : {}),
      };
    }

    // Growth: introspection and userinfo on an empty store against a seeded one, alternated: two
    // fresh Gatehouse processes (same age, same warm-up), each on a database of its own prepared
    // like the main one, one of them then filled with `tokens` access tokens and `sessions` sessions.
    let growth: Growth | undefined;
    const growthScenarios = scenarios.filter((scenario) => scenario.id === 'introspection' || scenario.id === 'userinfo');
    if (!options['skip-growth'] && selected('growth')) {
      const stores = [
        { id: 'empty', label: 'empty store', file: join(dir, 'gatehouse-empty.db'), port: await freePort() },
        { id: 'seeded', label: 'seeded store', file: join(dir, 'gatehouse-seeded.db'), port: await freePort() },
      ];
      const growthTargets: Target[] = [];
      for (const store of stores) {
        const env = gatehouseEnv(store.port, `sqlite:${store.file}`, 1);
        const storePrepared = await prepareDatabase(loadConfig(env), keyEncryptionKey);
        if (store.id === 'seeded') {
          log(`growth: storing ${settings.sessions.toLocaleString('en-US')} sessions and ${settings.tokens.toLocaleString('en-US')} access tokens…`);
          await seedGatehouse(`sqlite:${store.file}`, keyEncryptionKey, cookieKeys, `http://127.0.0.1:${store.port}`, config.ttl, { ...seedRequest, clientId: storePrepared.clients.web.clientId, accountId: storePrepared.accountId, sample: 0 });
        }
        const server = await startServerProcess(`Gatehouse (${store.label})`, 'src/main.ts', env, `http://127.0.0.1:${store.port}`, '/readyz', execArgv);
        servers.push(server);
        const target: Target = { id: store.id, label: store.label, server, clients: storePrepared.clients, refreshTokens: [] };
        await prepareTarget(target, 0);
        growthTargets.push(target);
      }
      growth = { sessions: settings.sessions, tokens: settings.tokens, databaseBytes: fileBytes(stores[1]!.file), emptyDatabaseBytes: fileBytes(stores[0]!.file), rows: [] };
      for (const scenario of growthScenarios) {
        log(`growth: ${scenario.title}, empty store against the seeded one…`);
        const stats = await compare(growthTargets, scenario.request);
        growth.rows.push({ id: scenario.id, title: scenario.title, empty: stats.empty!, seeded: stats.seeded! });
      }
      for (const target of growthTargets) {
        await target.server.stop();
        servers.splice(servers.indexOf(target.server), 1);
      }
    }

    // The worst event-loop stall while 100,000 expired rows are swept (bench/lib/sweep-stall.ts:
    // a store of its own, in this process), before (one DELETE per table) and after (batches).
    let sweep: SweepFigures[] | undefined;
    const sweepModule = new URL('./lib/sweep-stall.ts', import.meta.url);
    if (selected('sweep') && !options['skip-growth']) {
      if (existsSync(sweepModule)) {
        sweep = [];
        const { measureSweepStall } = (await import(pathToFileURL(sweepModule.pathname).href)) as { measureSweepStall: (options: { rows: number; mode?: string }) => Promise<SweepFigures> };
        for (const mode of ['single-statement', 'batched']) {
          log(`sweep: ${settings.tokens.toLocaleString('en-US')} expired rows, ${mode}…`);
          try {
            sweep.push({ ...(await measureSweepStall({ rows: settings.tokens, mode })), mode });
          } catch (error) {
            log(`sweep (${mode}) failed: ${(error as Error).message}`);
          }
        }
      } else {
        log('sweep: bench/lib/sweep-stall.ts not there: skipped');
      }
    }

    const report = {
      startedAt: startedAt.toISOString(), quick, machine, settings, argon2, hello: helloStats,
      targets: [...targets, ...(glewlwydTarget ? [glewlwydTarget] : [])].map(({ id, label }) => ({ id, label })),
      glewlwyd: glewlwyd ? { version: glewlwyd.version, clientSecretPbkdf2Iterations, scope: glewlwyd.scope } : undefined,
      scenarios: results, flows, scaling, memory, growth, sweep,
    };
    const resultsDir = join(repoRoot, 'bench', 'results');
    mkdirSync(resultsDir, { recursive: true });
    const file = join(resultsDir, `${startedAt.toISOString().replace(/[:.]/g, '-')}${quick ? '-quick' : ''}.json`);
    writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);

    console.log(render(report as Report, targets, glewlwydTarget));
    for (const server of servers) {
      if (server.errors.count) console.log(`\nwarning: ${server.name} logged ${server.errors.count} errors, first:\n  ${server.errors.first.join('\n  ')}`);
    }
    console.log(`\nResults: ${file}`);
  } finally {
    await stopAll();
    if (mongoUrlToDrop) await dropDatabase(mongoUrlToDrop);
    rmSync(dir, { recursive: true, force: true });
  }
}

let mongoUrlToDrop: string | undefined;

async function dropDatabase(url: string): Promise<void> {
  const { default: mongoose } = await import('mongoose');
  const connection = await mongoose.createConnection(url).asPromise();
  try {
    await connection.dropDatabase();
  } finally {
    await connection.close();
  }
}

type Growth = {
  sessions: number;
  tokens: number;
  /** The seeded database (the bench's other records too), and the empty one, on disk. */
  databaseBytes: number;
  emptyDatabaseBytes: number;
  rows: { id: string; title: string; empty: LoadStats; seeded: LoadStats }[];
};

type SweepFigures = { mode: string; rows: number; worstStallMs: number; sweepMs: number; extraRows?: number; batches?: number; walBytes?: number };

type Report = {
  quick: boolean;
  machine: ReturnType<typeof machineInfo>;
  settings: typeof settings;
  argon2: Argon2Figures;
  hello?: LoadStats;
  scenarios: Record<string, Record<string, LoadStats>>;
  flows?: Record<string, FlowSummary>;
  scaling?: { id: string; title: string; one: LoadStats; two: LoadStats }[];
  glewlwyd?: { version?: string; clientSecretPbkdf2Iterations: number; scope: string };
  growth?: Growth;
  sweep?: SweepFigures[];
  memory?: {
    sessions: number;
    tokens: number;
    gatehouse: { idleKiB?: number; afterLoadKiB?: number; afterSeedKiB?: number; databaseBytes: number; touched: { activeTokens: number; resumedSessions: number } };
    baseline: { idleKiB?: number; afterLoadKiB?: number; afterSeedKiB?: number; touched: { activeTokens: number; resumedSessions: number } };
    hello: { idleKiB?: number };
    glewlwyd?: { idleKiB?: number; afterLoadKiB?: number };
  };
};

function render(report: Report, targets: Target[], glewlwydTarget?: Target): string {
  const { machine } = report;
  const out: string[] = [];
  out.push(`\nMachine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB RAM, ${machine.os}; Node ${machine.node}; commit ${machine.gitCommit}${machine.gitDirty ? '+' : ''}`);
  out.push(`Load: autocannon, ${report.settings.connections} keep-alive connections, ${report.settings.rounds === 1 ? '1 round' : `${report.settings.rounds * 2} alternating rounds`} of ${report.settings.seconds} s per server and scenario${report.quick ? ' (quick run: indicative only)' : ''}. Ratios: Gatehouse ÷ baseline. CPU µs/req: the server process's CPU time (all threads) per request, steadier than req/s when other work shares the machine.`);
  const baseline = 'baseline';
  const rows: string[][] = [];
  if (report.hello) rows.push(['node:http hello (ceiling)', 'hello', fmt.rate(report.hello.requestsPerSecond), fmt.ms(report.hello.p50), fmt.ms(report.hello.p99), fmt.us(cpuMicrosPerRequest(report.hello)), '', '']);
  for (const scenario of scenarios) {
    const stats = report.scenarios[scenario.id];
    if (!stats) continue;
    for (const target of targets) {
      const own = stats[target.id];
      if (!own) continue;
      const ratio = target.id === baseline ? '' : fmt.ratio(own.requestsPerSecond / stats[baseline]!.requestsPerSecond);
      const cpuRatio = target.id === baseline ? '' : fmt.ratio(cpuMicrosPerRequest(own) / cpuMicrosPerRequest(stats[baseline]!));
      rows.push([target.id === targets[0]!.id ? scenario.title : '', target.label, fmt.rate(own.requestsPerSecond), fmt.ms(own.p50), fmt.ms(own.p99), fmt.us(cpuMicrosPerRequest(own)), `${ratio}${own.failed ? ` (${own.failed} failed)` : ''}`, cpuRatio]);
    }
  }
  if (rows.length) out.push('', table(['Scenario', 'Server', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'req/s ratio', 'CPU ratio'], rows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r']));

  if (report.flows) {
    const flowRows: string[][] = [];
    for (const target of targets) {
      const flow = report.flows[target.id];
      if (!flow) continue;
      const ratio = target.id === baseline ? '' : fmt.ratio(flow.flowsPerSecond / report.flows[baseline]!.flowsPerSecond);
      flowRows.push([
        target.label, fmt.rate(flow.flowsPerSecond), fmt.ms(flow.cpuMsPerFlow ?? Number.NaN),
        ...(['total', ...flowSteps] as const).map((step) => `${fmt.ms(flow.steps[step].p50)} / ${fmt.ms(flow.steps[step].p99)}`),
        `${ratio}${flow.errors ? ` (${flow.errors} failed: ${flow.firstError ?? ''})` : ''}`,
      ]);
    }
    out.push('', `Authorization code + PKCE through the pages, ${report.settings.flowConcurrency} people signing in at once, a fresh browser each time (p50 / p99 ms per step; "login" includes one argon2id verification, ${fmt.ms(report.argon2.verifyMs)} ms alone):`);
    out.push('', table(['Server', 'flows/s', 'CPU ms/flow', 'whole flow', 'authorize', 'login', 'consent', 'token', 'ratio'], flowRows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));
  }

  if (glewlwydTarget && report.glewlwyd) {
    const gatehouseId = targets[0]!.id;
    const cores = (stats: LoadStats) => {
      const value = coresUsed(stats.cpuMs, stats);
      return Number.isFinite(value) ? value.toFixed(2) : '–';
    };
    const glewlwydRows: string[][] = [];
    for (const scenario of scenarios) {
      const stats = report.scenarios[scenario.id];
      const theirs = stats?.[glewlwydTarget.id];
      const ours = stats?.[gatehouseId];
      if (!theirs || !ours) continue;
      const row = (label: string, own: LoadStats, ratios: boolean) => [
        ratios ? scenario.title : '', label, fmt.rate(own.requestsPerSecond), fmt.ms(own.p50), fmt.ms(own.p99), fmt.us(cpuMicrosPerRequest(own)), cores(own),
        ratios ? `${fmt.ratio(own.requestsPerSecond / theirs.requestsPerSecond)}${own.failed ? ` (${own.failed} failed)` : ''}` : own.failed ? `(${own.failed} failed)` : '',
        ratios ? fmt.ratio(cpuMicrosPerRequest(own) / cpuMicrosPerRequest(theirs)) : '',
      ];
      glewlwydRows.push(row(targets[0]!.label, ours, true), row(glewlwydTarget.label, theirs, false));
    }
    const iterations = report.glewlwyd.clientSecretPbkdf2Iterations;
    const notes = [['What differs', `Glewlwyd is C (ulfius on libmicrohttpd, a thread per connection: it can use more than one core, where Gatehouse runs 1 worker here); it stores every JWT it issues (access token row + scope rows) in SQLite in rollback-journal mode with synchronous=FULL, so each token is fsynced (Gatehouse: WAL, synchronous=NORMAL); it checks the client secret as PBKDF2-SHA256 with ${iterations} iteration${iterations === 1 ? '' : 's'} against the database on every request (Gatehouse: sealed secret, constant-time compare); it introspects its own client-credentials JWT for the same client, Gatehouse an opaque token of the web client; its client-credentials JWT has no resource indicator (aud = scope), Gatehouse's has one; both sign RS256 with RSA-2048.`]];
    out.push('', `Gatehouse against Glewlwyd ${report.glewlwyd.version ?? ''}, in the same alternating rounds (ratios: Gatehouse ÷ Glewlwyd; cores: server CPU time over wall time):`.replace('  ', ' '));
    out.push('', table(['Scenario', 'Server', 'req/s', 'p50 ms', 'p99 ms', 'CPU µs/req', 'cores', 'req/s ratio', 'CPU ratio'], glewlwydRows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r'], notes));
  }

  const a = report.argon2;
  out.push('', `argon2id (m=${a.memoryKiB} KiB, t=${a.iterations}, p=${a.parallelism}): ${fmt.ms(a.hashMs)} ms per hash, ${fmt.ms(a.verifyMs)} ms per verification → ${fmt.rate(a.loginsPerSecondPerCore)} logins/s per core; event loop stalled at most ${fmt.ms(a.eventLoopMaxStallMs)} ms while 4 hashes ran (they run on libuv's thread pool).`);

  if (report.scaling?.length) {
    const cores = (value: number) => (Number.isFinite(value) ? value.toFixed(2) : '–');
    // What each request does to the one database file the workers share (writes wait for its lock).
    const storeWork: Record<string, string> = {
      discovery: 'none',
      introspection: 'reads',
      'client-credentials-es256': '1 read',
      'client-credentials-rs256': '1 read',
      userinfo: 'reads',
    };
    const latency = (stats: LoadStats) => `${fmt.ms(stats.p50)} / ${fmt.ms(stats.p99)}`;
    const scalingRows = report.scaling.map((row) => [
      row.title, storeWork[row.id] ?? '',
      fmt.rate(row.one.requestsPerSecond), latency(row.one), cores(coresUsed(row.one.cpuMs, row.one)),
      fmt.rate(row.two.requestsPerSecond), latency(row.two), cores(coresUsed(row.two.cpuMs, row.two)),
      fmt.ratio(row.two.requestsPerSecond / row.one.requestsPerSecond),
      `${cores(coresUsed(row.one.clientCpuMs, row.one))} / ${cores(coresUsed(row.two.clientCpuMs, row.two))}`,
    ]);
    out.push('', `Scaling, WORKERS=1 → 2, the same database, alternated (cores: CPU time over wall time; the load generator runs on the same ${machine.cores} cores):`, '',
      table(['Scenario', 'store work', '1 worker req/s', 'p50 / p99 ms', 'cores', '2 workers req/s', 'p50 / p99 ms', 'cores', 'speed-up', 'load generator cores (1 / 2)'], scalingRows, ['l', 'l', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));
  }

  if (report.growth) {
    const g = report.growth;
    const growthRows = g.rows.map((row) => [
      row.title,
      fmt.rate(row.empty.requestsPerSecond), `${fmt.ms(row.empty.p50)} / ${fmt.ms(row.empty.p99)}`, fmt.us(cpuMicrosPerRequest(row.empty)),
      fmt.rate(row.seeded.requestsPerSecond), `${fmt.ms(row.seeded.p50)} / ${fmt.ms(row.seeded.p99)}`, fmt.us(cpuMicrosPerRequest(row.seeded)),
      `${fmt.ratio(row.seeded.requestsPerSecond / row.empty.requestsPerSecond)}${row.empty.failed + row.seeded.failed ? ` (${row.empty.failed + row.seeded.failed} failed)` : ''}`,
    ]);
    out.push('', `Growth: Gatehouse (SQLite) with an empty store against one holding ${g.tokens.toLocaleString('en-US')} access tokens and ${g.sessions.toLocaleString('en-US')} sessions (database ${(g.databaseBytes / 2 ** 20).toFixed(0)} MiB against ${(g.emptyDatabaseBytes / 2 ** 20).toFixed(1)} MiB), two processes alternated:`);
    out.push('', table(['Scenario', 'empty req/s', 'p50 / p99 ms', 'CPU µs/req', 'seeded req/s', 'p50 / p99 ms', 'CPU µs/req', 'seeded ÷ empty'], growthRows, ['l', 'r', 'r', 'r', 'r', 'r', 'r', 'r']));
  }
  if (report.sweep?.length) {
    out.push('', 'Sweeping expired rows (bench/lib/sweep-stall.ts: a SQLite store in the bench process, filled with expired records, swept once while its event loop is watched):', '');
    out.push(table(['Sweep', 'expired rows', 'worst event-loop stall ms', 'sweep ms', 'statements'], report.sweep.map((figures) => [
      figures.mode === 'batched' ? 'batched (the sweeper)' : figures.mode === 'single-statement' ? 'one DELETE per table (before)' : figures.mode,
      `${figures.rows.toLocaleString('en-US')}${figures.extraRows ? ` + ${(figures.extraRows * 2).toLocaleString('en-US')}` : ''}`,
      fmt.ms(figures.worstStallMs), fmt.ms(figures.sweepMs), figures.batches === undefined ? '' : figures.batches.toLocaleString('en-US'),
    ]), ['l', 'r', 'r', 'r', 'r']));
  }

  if (report.memory) {
    const m = report.memory;
    out.push('', `Resident memory (RSS) — after start-up, after the load above, and after ${m.sessions.toLocaleString('en-US')} sessions and ${m.tokens.toLocaleString('en-US')} access tokens were stored and a sample of them used:`);
    out.push('', table(['Server', 'idle', 'after load', 'with sessions and tokens', 'sample used'], [
      ['Gatehouse (SQLite)', fmt.mib(m.gatehouse.idleKiB), fmt.mib(m.gatehouse.afterLoadKiB), fmt.mib(m.gatehouse.afterSeedKiB), `${m.gatehouse.touched.activeTokens} tokens active, ${m.gatehouse.touched.resumedSessions} sessions resumed; database ${(m.gatehouse.databaseBytes / 2 ** 20).toFixed(0)} MiB on disk`],
      ['oidc-provider (bare)', fmt.mib(m.baseline.idleKiB), fmt.mib(m.baseline.afterLoadKiB), fmt.mib(m.baseline.afterSeedKiB), `${m.baseline.touched.activeTokens} tokens active, ${m.baseline.touched.resumedSessions} sessions resumed (its in-memory adapter is an LRU of 1,000 entries: it forgets the rest)`],
      ...(m.glewlwyd ? [[glewlwydTarget?.label ?? 'Glewlwyd', fmt.mib(m.glewlwyd.idleKiB), fmt.mib(m.glewlwyd.afterLoadKiB), '', 'not seeded (stopped after its scenarios)']] : []),
      ['node:http hello', fmt.mib(m.hello.idleKiB), '', '', ''],
    ], ['l', 'r', 'r', 'r', 'l']));
  }
  return out.join('\n');
}

main().catch((error: unknown) => {
  console.error(`bench failed: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});
