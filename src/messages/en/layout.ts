/** What every page's frame says (views/layout.eta). */
export const layout = {
  'layout.languages': 'Language',
  // A page shown again because something failed: the title says what (WCAG 2.4.2, 3.3.1).
  'layout.title_error': 'Error: {problem} – {title}',
  // A page answering with an error status (not found, expired link, refused request): its title says so.
  'layout.title_failed': 'Error: {title}',
} as const satisfies Record<string, string>;
