import type { Translation } from '../translation.ts';

/** French: the brand's words (en/branding.ts). */
export const branding = {
  'branding.support': 'Aide',
  'branding.privacy': 'Confidentialité',
  'branding.mail_support': 'Aide : {url}',
  'branding.mail_privacy': 'Confidentialité : {url}',
  'branding.client_links': 'À propos de {client}',
  'branding.client_website': 'Site web',
  'branding.client_privacy': 'Politique de confidentialité',
  'branding.client_terms': 'Conditions d’utilisation',
} as const satisfies Partial<Translation>;
