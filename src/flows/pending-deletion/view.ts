import { message } from '../../messages/messages.ts';
import type { ViewData } from '../kit.ts';

/** Where the page posts the person's choice (registered by handler.ts). */
export const pendingDeletionRoute = '/interaction/:uid/pending-deletion';

export function pendingDeletionAddress(uid: string): string {
  return pendingDeletionRoute.replace(':uid', encodeURIComponent(uid));
}

/** "Your account is scheduled for deletion on DATE": keep it, or go on with the deletion. */
export function pendingDeletionPage(input: { uid: string; email: string; deleteAfter: Date; error?: string | undefined }): ViewData {
  const when = input.deleteAfter;
  return {
    title: message('pending_deletion.title'),
    uid: input.uid,
    action: pendingDeletionAddress(input.uid),
    email: input.email,
    deleteAfter: { iso: when.toISOString(), text: `${when.toISOString().slice(0, 16).replace('T', ' ')} UTC` },
    error: input.error,
  };
}
