import { existsSync } from 'node:fs';
import { extname, isAbsolute, join, normalize, sep } from 'node:path';

import { Eta, EtaFileResolutionError } from 'eta';

/**
 * Templates looked up in layers: the operator's directory first (THEME_DIR, docs/branding.md), then
 * the project's views/. A file the operator puts there with a template's name replaces that
 * template (a partial, the layout, one mail) without forking; anything absent falls through.
 * Names are always read from the root of each layer, never relative to the including file, so an
 * overridden template including `partials/x` still finds the project's partial.
 */
export function layeredEta(options: { roots: readonly string[]; autoEscape: boolean; autoTrim?: false; cache: boolean }): Eta {
  const roots = options.roots.filter(Boolean);
  const resolved = new Map<string, string>();
  const eta = new Eta({
    views: roots[roots.length - 1]!,
    autoEscape: options.autoEscape,
    ...(options.autoTrim === false ? { autoTrim: false } : {}),
    cache: options.cache,
    defaultExtension: '.eta',
  });
  eta.resolvePath = (template: string) => {
    const name = normalize(template.replace(/^[/\\]+/, '') + (extname(template) ? '' : '.eta'));
    if (isAbsolute(name) || name.split(sep).includes('..')) throw new EtaFileResolutionError(`Template '${template}' is not in the views directory`);
    const known = options.cache ? resolved.get(name) : undefined;
    if (known) return known;
    const file = roots.map((root) => join(root, name)).find((candidate) => existsSync(candidate));
    if (!file) throw new EtaFileResolutionError(`Could not find template: ${name}`);
    if (options.cache) resolved.set(name, file);
    return file;
  };
  return eta;
}
