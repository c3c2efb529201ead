import type { AbuseLimits } from '../limits/abuse-limits.ts';
import type { Metrics } from './metrics.ts';

/** A limit's method name as a metric label: passwordAttempt → password_attempt. */
function snake(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
}

/**
 * The abuse limits, counted where they refuse: every answer `{ ok: false }` of a limit (a password
 * attempt that must wait or is locked, a registration, reset or mail over its budget, …) is one
 * gatehouse_limit_refusals_total{limit,reason}. The limits themselves are unchanged.
 */
export function observeLimits(limits: AbuseLimits, metrics: Metrics | undefined): AbuseLimits {
  if (!metrics) return limits;
  const observed = {} as Record<string, unknown>;
  for (const [name, value] of Object.entries(limits) as Array<[string, unknown]>) {
    if (typeof value !== 'function') {
      observed[name] = value;
      continue;
    }
    const limit = snake(name);
    observed[name] = async (...args: unknown[]) => {
      const answer = await (value as (...args: unknown[]) => Promise<unknown>).apply(limits, args);
      const verdict = answer as { ok?: unknown; reason?: unknown } | undefined;
      if (verdict && verdict.ok === false) metrics.limitRefusals.inc({ limit, reason: typeof verdict.reason === 'string' ? verdict.reason : 'refused' });
      return answer;
    };
  }
  return observed as AbuseLimits;
}
