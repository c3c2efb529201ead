import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

import { localeNames, supportedLocales } from '../../../src/messages/locales.ts';
import type { Locale } from '../../../src/messages/locales.ts';

/** One screenshot of the sweep and what axe found on it. */
export type SweepRecord = {
  state: string;
  locale: Locale;
  scheme: 'light' | 'dark';
  width: number;
  /** Relative to the screenshots folder. */
  file: string;
  title: string;
  violations: { id: string; impact: string | null; help: string; targets: string[] }[];
};

type SweepFile = { label: string; locales: Locale[]; seconds: number; findings?: string[]; records: SweepRecord[] };

/** Deque's rule pages are per axe-core minor version. */
const axeVersion = (JSON.parse(readFileSync(createRequire(import.meta.url).resolve('axe-core/package.json'), 'utf8')) as { version: string }).version.split('.').slice(0, 2).join('.');

const escape = (text: string) => text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);

/**
 * test-results/screenshots/index.html from every sweep file's results (axe-<label>.json, one per
 * test file, which run in parallel): the axe summary first, then one section per state with a row
 * per language, each thumbnail linking to its full-page screenshot.
 */
export function writeGallery(folder: string, order: string[] = [], labels?: string[]): void {
  const files = readdirSync(folder).filter((name) => /^axe-.+\.json$/.test(name));
  // Results of test files that no longer exist (an earlier split of the sweep) would show stale records: gone.
  const current = labels ? files.filter((name) => labels.includes(name.slice('axe-'.length, -'.json'.length))) : files;
  for (const stale of files.filter((name) => !current.includes(name))) rmSync(join(folder, stale));
  const runs = current.map((name) => JSON.parse(readFileSync(join(folder, name), 'utf8')) as SweepFile);
  const records = runs.flatMap((run) => run.records);
  const rank = (state: string) => (order.includes(state) ? order.indexOf(state) : order.length);
  const states = [...new Set(records.map((record) => record.state))].sort((a, b) => rank(a) - rank(b));
  const findings = runs.flatMap((run) => run.findings ?? []);
  const locales = supportedLocales.filter((locale) => records.some((record) => record.locale === locale));

  // Which widths each language was shot at (English at two, the others at the phone's), as "1280 and 390" → languages.
  const widths = new Map<string, Locale[]>();
  for (const locale of locales) {
    const each = [...new Set(records.filter((record) => record.locale === locale).map((record) => record.width))].join(' and ');
    widths.set(each, [...(widths.get(each) ?? []), locale]);
  }

  const byRule = new Map<string, { impact: string | null; help: string; where: Set<string> }>();
  for (const record of records) {
    for (const violation of record.violations) {
      const entry = byRule.get(violation.id) ?? { impact: violation.impact, help: violation.help, where: new Set<string>() };
      for (const target of violation.targets) entry.where.add(`${record.state} (${record.locale}, ${record.scheme}, ${record.width}px): ${target}`);
      byRule.set(violation.id, entry);
    }
  }
  const failing = records.filter((record) => record.violations.length).length;
  const summary = [
    `<p>${records.length} screenshots of ${states.length} states in ${locales.length} languages, light and dark, at ${[...widths].map(([each, which]) => `${each} px (${which.join(', ')})`).join(', ')}; axe-core, tags wcag2a, wcag2aa, wcag21a, wcag21aa, wcag22aa. `,
    `${failing ? `<strong>${failing} with axe violations.</strong>` : 'No axe violations.'} `,
    `Runs: ${runs.map((run) => `${escape(run.label)} ${run.seconds} s`).join(', ')}.</p>`,
    findings.length ? `<h2>Other checks: ${findings.length} problems</h2><ul>${findings.map((finding) => `<li>${escape(finding)}</li>`).join('')}</ul>` : '<p>Other checks (lang, dir, title, reflow at 320 px, English sentences): no problems.</p>',
    byRule.size ? `<table><thead><tr><th>Rule</th><th>Impact</th><th>What</th><th>Where (state, language, scheme, width: selector)</th></tr></thead><tbody>${[...byRule].map(([id, entry]) => `<tr><td><a href="https://dequeuniversity.com/rules/axe/${axeVersion}/${escape(id)}">${escape(id)}</a></td><td>${escape(entry.impact ?? '')}</td><td>${escape(entry.help)}</td><td><details><summary>${entry.where.size} places</summary><ul>${[...entry.where].slice(0, 200).map((place) => `<li><code>${escape(place)}</code></li>`).join('')}</ul></details></td></tr>`).join('')}</tbody></table>` : '',
  ].join('');

  const sections = states.map((state) => {
    const rows = locales.map((locale) => {
      const shots = records.filter((record) => record.state === state && record.locale === locale);
      if (!shots.length) return '';
      const cells = shots.map((shot) => {
        const alt = `${state}, ${localeNames[locale]} (${locale}), ${shot.scheme} scheme, ${shot.width} px wide`;
        const mark = shot.violations.length ? ` <span class="bad">${shot.violations.length} axe violation${shot.violations.length === 1 ? '' : 's'}: ${escape(shot.violations.map((each) => each.id).join(', '))}</span>` : '';
        return `<figure><a href="${escape(shot.file)}"><img src="${escape(shot.file)}" alt="${escape(alt)}" loading="lazy" width="${shot.width === 1280 ? 240 : 120}"></a><figcaption>${shot.scheme}, ${shot.width} px${mark}</figcaption></figure>`;
      });
      return `<div class="row"><h3 lang="${locale}">${escape(localeNames[locale])}</h3><p class="title">${escape(shots[0]!.title)}</p><div class="shots">${cells.join('')}</div></div>`;
    });
    return `<section id="${escape(state)}"><h2>${escape(state)}</h2>${rows.join('')}</section>`;
  });

  const html = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Gatehouse pages: accessibility sweep</title>
<style>
body { font: 15px/1.4 system-ui, sans-serif; margin: 1.5rem; color: #1b1d22; background: #fff; }
table { border-collapse: collapse; margin: 1rem 0; } td, th { border: 1px solid #999; padding: .3rem .5rem; text-align: start; vertical-align: top; }
nav ul { columns: 4; } .row { border-top: 1px solid #ccc; padding: .5rem 0; } .row h3 { margin: 0; font-size: 1rem; }
.title { margin: 0; color: #555; } .shots { display: flex; flex-wrap: wrap; gap: .75rem; align-items: flex-start; }
figure { margin: 0; } img { border: 1px solid #999; display: block; height: auto; } figcaption { font-size: .8rem; max-width: 240px; } .bad { color: #a11; font-weight: 600; }
</style></head>
<body>
<h1>Gatehouse pages: accessibility sweep</h1>
${summary}
<nav aria-label="States"><ul>${states.map((state) => `<li><a href="#${escape(state)}">${escape(state)}</a></li>`).join('')}</ul></nav>
${sections.join('\n')}
</body>
</html>
`;
  writeFileSync(join(folder, 'index.html'), html);
}
