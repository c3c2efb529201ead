/**
 * What an image file is, from its first bytes (never its name or a server's Content-Type): the
 * operator's logos and favicon (src/web/branding.ts) and the logos of applications fetched from
 * elsewhere (src/web/client-logo.ts). Pure.
 */

import { readFileSync, statSync } from 'node:fs';

import { GatehouseError } from '../errors.ts';
import { message } from '../messages/messages.ts';

export type ImageType = 'image/png' | 'image/jpeg' | 'image/webp' | 'image/gif' | 'image/svg+xml' | 'image/x-icon';

const startsWith = (bytes: Uint8Array, signature: readonly number[], at = 0) =>
  bytes.length >= at + signature.length && signature.every((byte, index) => bytes[at + index] === byte);

const ascii = (text: string) => [...text].map((char) => char.charCodeAt(0));

/**
 * An SVG document: optional BOM, XML declaration, comments and doctype, then an `<svg` element.
 * Only the start is read; what follows is the browser's business (served with a policy that runs
 * nothing, see branding.ts).
 */
function isSvg(bytes: Uint8Array): boolean {
  const head = Buffer.from(bytes.subarray(0, 4096)).toString('utf8').replace(/^\uFEFF/, '');
  return /^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--[\s\S]*?-->\s*)*(?:<!DOCTYPE[^>]*>\s*)?(?:<!--[\s\S]*?-->\s*)*<svg[\s>/]/i.test(head);
}

/** The image type of `bytes`, or undefined when it is none of those Gatehouse serves. */
export function sniffImageType(bytes: Uint8Array): ImageType | undefined {
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'image/png';
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'image/jpeg';
  if (startsWith(bytes, ascii('GIF87a')) || startsWith(bytes, ascii('GIF89a'))) return 'image/gif';
  if (startsWith(bytes, ascii('RIFF')) && startsWith(bytes, ascii('WEBP'), 8)) return 'image/webp';
  // An ICO directory: reserved 0, type 1 (icon), at least one image.
  if (startsWith(bytes, [0x00, 0x00, 0x01, 0x00]) && bytes.length >= 6 && (bytes[4]! | (bytes[5]! << 8)) > 0) return 'image/x-icon';
  if (isSvg(bytes)) return 'image/svg+xml';
  return undefined;
}

/** What each use accepts. */
export const logoTypes: readonly ImageType[] = ['image/png', 'image/jpeg', 'image/webp', 'image/gif', 'image/svg+xml'];
export const faviconTypes: readonly ImageType[] = ['image/x-icon', 'image/png', 'image/svg+xml'];
/** An application's logo from another origin: raster only (an SVG is a document, with links and styles). */
export const clientLogoTypes: readonly ImageType[] = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'];

/** The names an operator knows the types by, for messages. */
export function typeNames(types: readonly ImageType[]): string {
  const names: Record<ImageType, string> = {
    'image/png': 'PNG', 'image/jpeg': 'JPEG', 'image/webp': 'WebP', 'image/gif': 'GIF', 'image/svg+xml': 'SVG', 'image/x-icon': 'ICO',
  };
  return types.map((type) => names[type]).join(', ');
}

/** The largest logo or favicon the operator may give (it is held in memory and sent with every first page view). */
export const maxBrandFileBytes = 512 * 1024;

/**
 * Reads an operator's image file (BRAND_LOGO_FILE …) for `variable`, or refuses the configuration
 * in one line naming it: unreadable, larger than 512 KiB, or not one of `types` by its bytes.
 */
export function readImageFile(variable: string, file: string, types: readonly ImageType[]): { bytes: Buffer; type: ImageType } {
  const refuse = (problem: Parameters<typeof message>[0], values: Record<string, string | number>): never => {
    throw new GatehouseError('invalid_config', 'config.message', { name: variable, problem: message(problem, values) });
  };
  let size: number;
  try {
    const stat = statSync(file);
    if (!stat.isFile()) refuse('config.brand_file_unreadable', { file, code: 'not a file' });
    size = stat.size;
  } catch (error) {
    if (error instanceof GatehouseError) throw error;
    return refuse('config.brand_file_unreadable', { file, code: (error as NodeJS.ErrnoException).code ?? String(error) });
  }
  if (size > maxBrandFileBytes) refuse('config.brand_file_too_large', { file, size: String(size), max: String(maxBrandFileBytes), maxKiB: String(maxBrandFileBytes / 1024) });
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    return refuse('config.brand_file_unreadable', { file, code: (error as NodeJS.ErrnoException).code ?? String(error) });
  }
  const type = sniffImageType(bytes);
  if (!type || !types.includes(type)) refuse('config.brand_file_type', { file, types: typeNames(types) });
  return { bytes, type: type! };
}
