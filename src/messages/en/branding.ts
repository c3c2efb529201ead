/**
 * The brand's words (docs/branding.md): the footer of every page and mail (the operator's links)
 * and an application's own links on the sign-in, consent and device pages
 * (views/partials/client-brand.eta). The product's and the application's names are values.
 */
export const branding = {
  // The footer (views/layout.eta, views/mail/layout.html.eta): the operator's BRAND_SUPPORT_URL and BRAND_PRIVACY_URL.
  'branding.support': 'Help',
  'branding.privacy': 'Privacy',
  // The same, at the end of a plain-text mail, with the address written out.
  'branding.mail_support': 'Help: {url}',
  'branding.mail_privacy': 'Privacy: {url}',
  // An application's links (its client_uri, policy_uri and tos_uri), next to its name and logo.
  'branding.client_links': 'About {client}',
  'branding.client_website': 'Website',
  'branding.client_privacy': 'Privacy policy',
  'branding.client_terms': 'Terms of service',
} as const satisfies Record<string, string>;
