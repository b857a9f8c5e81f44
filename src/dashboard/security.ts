import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

// What keeps the dashboard safe where it stands (SPEC rule 22): who may see it (a
// token, when one is set), who may act (the token, and a CSRF token in every form),
// and what a page may load (its own assets only).

/** Equal in constant time, whatever the lengths: both are hashed first. */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** A loopback address: 127.0.0.0/8, ::1, localhost. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The CSRF token of this dashboard's forms: a keyed hash of a secret made at start, so it cannot be guessed. */
export class CsrfTokens {
  readonly #secret = randomBytes(32);

  token(): string {
    return createHmac('sha256', this.#secret).update('actions').digest('base64url');
  }

  valid(given: unknown): boolean {
    return typeof given === 'string' && sameSecret(given, this.token());
  }
}

/** Every response's headers: nothing from elsewhere, no framing, no sniffing, no referrer. */
export const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cache-Control': 'no-store',
};

export const TOKEN_COOKIE = 'bt_token';
