import { redactUrl } from '@stabilize/store-postgres';

export { redactUrl };

/**
 * Hides `secret` wherever it appears in `text` (a driver message may quote it). Secrets shorter
 * than 3 characters are left alone rather than mangling every message.
 */
export function scrubSecret(text: string, secret: string | null | undefined): string {
  if (!secret || secret.length < 3) return text;
  return text.split(secret).join('***');
}
