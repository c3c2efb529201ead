/** The form emails are compared in: trimmed, NFC, lower-cased. Shared by every backend. */
export function normalizeEmail(email: string): string {
  return email.trim().normalize('NFC').toLowerCase();
}
