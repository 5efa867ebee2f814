import type { DoubleCsrfConfigOptions } from 'csrf-csrf';

/**
 * csrf-csrf's options for a test site on plain-HTTP loopback, its token bound to the session id (as the README's
 * recipe binds it), read from the `X-CSRF-Token` header (the embed's) or a form's `_csrf` field.
 */
export function loopbackDoubleCsrfOptions(secret: string): DoubleCsrfConfigOptions {
  return {
    getSecret: () => secret,
    getSessionIdentifier: (req) => req.session.id,
    // `__Host-` cookies need HTTPS.
    cookieName: 'csrf-token',
    cookieOptions: { secure: false },
    getCsrfTokenFromRequest: (req) =>
      req.headers['x-csrf-token'] ?? (req.body as { _csrf?: string } | undefined)?._csrf,
  };
}
