import parsePrometheusTextFormat from 'parse-prometheus-text-format';
import type { MetricFamily, Sample } from 'parse-prometheus-text-format';

/**
 * A scrape of /metrics, parsed by a real Prometheus text-format parser (parse-prometheus-text-format).
 * `families` has every family with its TYPE. The parser folds all series of a histogram into one
 * sample (it loses their labels), so histograms are read from a second parse of the same text
 * without their TYPE lines: there each `_bucket`, `_count` and `_sum` series is a family of its own
 * with its labels.
 */
export type Scrape = { families: Map<string, MetricFamily>; series: Map<string, MetricFamily>; text: string };

export function parseScrape(text: string): Scrape {
  const families = byName(parsePrometheusTextFormat(text));
  const untyped = text.split('\n').filter((line) => !/^# TYPE \S+ histogram$/.test(line)).join('\n');
  return { text, families, series: byName(parsePrometheusTextFormat(untyped)) };
}

/** Families by name; a name met again (a histogram's `_sum` and `_count` alternate per label set) adds its samples. */
function byName(parsed: MetricFamily[]): Map<string, MetricFamily> {
  const out = new Map<string, MetricFamily>();
  for (const family of parsed) {
    const seen = out.get(family.name);
    if (seen) seen.metrics.push(...family.metrics);
    else out.set(family.name, { ...family, metrics: [...family.metrics] });
  }
  return out;
}

export async function scrape(url: string, token?: string): Promise<Scrape> {
  const response = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  if (response.status !== 200) throw new Error(`scraping ${url}: ${response.status} ${await response.text()}`);
  const type = response.headers.get('content-type');
  if (!type?.startsWith('text/plain') || !type.includes('version=0.0.4')) throw new Error(`not the Prometheus text format: ${type}`);
  return parseScrape(await response.text());
}

/** The samples of a series (a counter or gauge, or a histogram's `_count`, `_bucket`, `_sum`) whose labels include `labels`. */
export function samples(result: Scrape, name: string, labels: Record<string, string> = {}): Sample[] {
  const family = result.series.get(name);
  if (!family) return [];
  return family.metrics.filter((sample) => Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value));
}

/** The sum of the samples matching `labels` (0 when there are none). */
export function total(result: Scrape, name: string, labels: Record<string, string> = {}): number {
  return samples(result, name, labels).reduce((sum, sample) => sum + Number(sample.value), 0);
}

/** How many observations a histogram has for `labels` (its `_count`). */
export function histogramCount(result: Scrape, name: string, labels: Record<string, string> = {}): number {
  return total(result, `${name}_count`, labels);
}
