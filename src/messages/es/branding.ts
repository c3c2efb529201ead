import type { Translation } from '../translation.ts';

/** Spanish: the brand's words (en/branding.ts). */
export const branding = {
  'branding.support': 'Ayuda',
  'branding.privacy': 'Privacidad',
  'branding.mail_support': 'Ayuda: {url}',
  'branding.mail_privacy': 'Privacidad: {url}',
  'branding.client_links': 'Acerca de {client}',
  'branding.client_website': 'Sitio web',
  'branding.client_privacy': 'Política de privacidad',
  'branding.client_terms': 'Condiciones del servicio',
} as const satisfies Partial<Translation>;
