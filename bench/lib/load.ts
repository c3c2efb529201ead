import autocannon from 'autocannon';

export type LoadRequest = {
  method?: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Builds each request's body just before it is sent (a fresh refresh token each time). */
  setupBody?: () => string;
  /** Sees each response (status, body), e.g. to keep the refresh token it returns. */
  onResponse?: (status: number, body: string) => void;
};

export type LoadStats = {
  requestsPerSecond: number;
  /** Latency percentiles of the successful and failed requests alike, in milliseconds. */
  p50: number;
  p99: number;
  /** 2xx answers, counted in requestsPerSecond. */
  ok: number;
  /** Anything else: non-2xx answers, connection errors, timeouts. The run is suspect when > 0. */
  failed: number;
  seconds: number;
  /** CPU time the server process used meanwhile (all threads), when it could be read. */
  cpuMs?: number;
  /** CPU time the load generator (this process) used meanwhile. */
  clientCpuMs?: number;
};

/** Cores kept busy on average: CPU time over wall time. */
export function coresUsed(cpuMs: number | undefined, stats: LoadStats): number {
  return cpuMs === undefined ? Number.NaN : cpuMs / (stats.seconds * 1000);
}

/** Server CPU per request, microseconds: steadier than requests/s on a shared machine. */
export function cpuMicrosPerRequest(stats: LoadStats): number {
  return stats.cpuMs === undefined ? Number.NaN : (stats.cpuMs * 1000) / (stats.ok + stats.failed);
}

/** `connections` keep-alive connections sending `request` back to back for `seconds` (autocannon). */
export async function load(base: string, request: LoadRequest, options: { connections: number; seconds: number }): Promise<LoadStats> {
  const { setupBody, onResponse } = request;
  const result = await autocannon({
    url: `${base}${request.path}`,
    method: request.method ?? 'GET',
    connections: options.connections,
    duration: options.seconds,
    headers: { ...(request.body !== undefined || setupBody ? { 'content-type': 'application/x-www-form-urlencoded' } : {}), ...request.headers },
    ...(request.body !== undefined ? { body: request.body } : {}),
    ...(setupBody || onResponse
      ? {
          requests: [{
            ...(setupBody ? { setupRequest: (req: autocannon.Request) => ({ ...req, body: setupBody() }) } : {}),
            ...(onResponse ? { onResponse: (status: number, body: string) => onResponse(status, body) } : {}),
          }],
        }
      : {}),
  });
  return {
    requestsPerSecond: result['2xx'] / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok: result['2xx'],
    failed: result.non2xx + result.errors + result.timeouts,
    seconds: result.duration,
  };
}

/** Rounds of one scenario on one server, as one figure: total throughput, typical latencies. */
export function combine(rounds: LoadStats[]): LoadStats {
  const seconds = rounds.reduce((sum, round) => sum + round.seconds, 0);
  const ok = rounds.reduce((sum, round) => sum + round.ok, 0);
  const mean = (values: number[]) => values.reduce((sum, value) => sum + value, 0) / values.length;
  return {
    requestsPerSecond: ok / seconds,
    p50: mean(rounds.map((round) => round.p50)),
    p99: mean(rounds.map((round) => round.p99)),
    ok,
    failed: rounds.reduce((sum, round) => sum + round.failed, 0),
    seconds,
    ...(rounds.every((round) => round.cpuMs !== undefined) ? { cpuMs: rounds.reduce((sum, round) => sum + round.cpuMs!, 0) } : {}),
    ...(rounds.every((round) => round.clientCpuMs !== undefined) ? { clientCpuMs: rounds.reduce((sum, round) => sum + round.clientCpuMs!, 0) } : {}),
  };
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}
