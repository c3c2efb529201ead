import { fileURLToPath } from 'node:url';

/**
 * Where Gatehouse finds its own files, wherever it is started from: below every layer, so that the
 * web layer (pages) and mail (messages) read the templates from one place.
 */

/** The Eta templates: pages at the top, mails in `mail/`, the stylesheet in `assets/`. */
export const viewsDir = fileURLToPath(new URL('../../views/', import.meta.url));

/** The declarative defaults every configuration starts from (validated by load-config.ts). */
export const defaultsFile = fileURLToPath(new URL('../../config/default.json', import.meta.url));
