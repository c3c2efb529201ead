import type { Translation } from '../translation.ts';

export const branding = {
  'branding.support': 'ヘルプ',
  'branding.privacy': 'プライバシー',
  'branding.mail_support': 'ヘルプ: {url}',
  'branding.mail_privacy': 'プライバシー: {url}',
  'branding.client_links': '{client} について',
  'branding.client_website': 'ウェブサイト',
  'branding.client_privacy': 'プライバシー ポリシー',
  'branding.client_terms': '利用規約',
} as const satisfies Partial<Translation>;
