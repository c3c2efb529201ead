/**
 * The signing-key rotation schedule, as configuration: what it holds and when it is usable. The
 * rotation itself (src/keys/rotation.ts) follows it; configuration is validated with it at start-up
 * without depending on the keys.
 */
import { message } from '../messages/messages.ts';

export type Schedule = {
  /** JWKS Cache-Control max-age. */
  jwksCacheSeconds: number;
  /** How long a key signs before it is replaced. */
  rotationIntervalSeconds: number;
  /** The longest lifetime a token signed by us can have. */
  maxTokenLifetimeSeconds: number;
  /** Safety margin added to every wait (clock skew, poll delay). */
  marginSeconds: number;
};

/** What is wrong with a schedule, one sentence per problem; [] when it is usable. */
export function validateSchedule(schedule: Schedule): string[] {
  const problems: string[] = [];
  const positive = ['jwksCacheSeconds', 'rotationIntervalSeconds', 'maxTokenLifetimeSeconds'] as const;
  for (const name of positive) {
    const value = schedule[name];
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      problems.push(message('config.schedule_not_positive', { name, value: String(value) }));
    }
  }
  const margin = schedule.marginSeconds;
  if (typeof margin !== 'number' || !Number.isFinite(margin) || margin < 0) {
    problems.push(message('config.schedule_margin_negative', { value: String(margin) }));
  }
  // Only compare numbers that make sense, so one bad value gives one message.
  if (problems.length === 0) {
    const minimum = 2 * (schedule.jwksCacheSeconds + schedule.marginSeconds);
    if (schedule.rotationIntervalSeconds <= minimum) {
      problems.push(message('config.schedule_interval_too_short', { interval: String(schedule.rotationIntervalSeconds), minimum: String(minimum) }));
    }
  }
  return problems;
}
