import type { Translation } from '../translation.ts';

/** German: the brand's words (en/branding.ts). */
export const branding = {
  'branding.support': 'Hilfe',
  'branding.privacy': 'Datenschutz',
  'branding.mail_support': 'Hilfe: {url}',
  'branding.mail_privacy': 'Datenschutz: {url}',
  'branding.client_links': 'Über {client}',
  'branding.client_website': 'Website',
  'branding.client_privacy': 'Datenschutzerklärung',
  'branding.client_terms': 'Nutzungsbedingungen',
} as const satisfies Partial<Translation>;
