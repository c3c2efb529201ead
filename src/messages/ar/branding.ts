import type { Translation } from '../translation.ts';

export const branding = {
  'branding.support': 'المساعدة',
  'branding.privacy': 'الخصوصية',
  'branding.mail_support': 'المساعدة: {url}',
  'branding.mail_privacy': 'الخصوصية: {url}',
  'branding.client_links': 'حول {client}',
  'branding.client_website': 'الموقع الإلكتروني',
  'branding.client_privacy': 'سياسة الخصوصية',
  'branding.client_terms': 'شروط الخدمة',
} as const satisfies Partial<Translation>;
