import { createHmac } from 'node:crypto';
import type { Request, Response } from 'express';
import { visitorCookie } from './client/page-config.js';
import { contactFields, type ValidContact } from './contact.js';

const maxRecentIds = 256;
const cookieName = `${visitorCookie}=`;

// The cookie in a Cookie header, when it holds an id as contactIdOf makes it. Anything else counts as no cookie.
const cookiePattern = /(?:^|;)\s*reteno_inbox_contact\s*=\s*([A-Za-z0-9_-]{22})\s*(?:;|$)/;

/**
 * The visitor cookie (page-config.ts), which tells the site's open tabs who the browser's visitor is now. Every
 * request the middleware sees for a page keeps it in step: set to the contact's id when it holds another, cleared on
 * the first request of an anonymous visitor that carries it. Signed-in pages watch it and reload when it changes.
 */
export interface SessionWatch {
  /** The contact's opaque id: 22 base64url characters. */
  contactIdOf(contact: ValidContact): string;
  /** Sets or clears the cookie on `res` when it does not hold `contactId` ('' for nobody). */
  keepInStep(req: Request, res: Response, contactId: string): void;
}

/**
 * Ids are HMACs of the contact's fields keyed with a secret derived from the API key: the same on every instance of
 * the site, and meaningless to whoever reads them (the cookie is readable by page script, not HttpOnly).
 */
export function createSessionWatch(apiKey: string): SessionWatch {
  const key = createHmac('sha256', apiKey).update('express-reteno-inbox session-watch').digest();
  // Most pages are for a few recent visitors: their ids are remembered (a bounded memo), not hashed again.
  // Validated contact fields hold no control characters, so '\n' keeps them apart.
  const recentIds = new Map<string, string>();
  const setLine = (contactId: string, secure: boolean) =>
    `${visitorCookie}=${contactId}; Path=/; SameSite=Lax${secure ? '; Secure' : ''}`;
  const clearLines = {
    plain: `${visitorCookie}=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax`,
    secure: `${visitorCookie}=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax; Secure`,
  };

  return {
    contactIdOf(contact) {
      const known = `${contact.email ?? ''}\n${contact.phone ?? ''}\n${contact.externalCustomerId ?? ''}`;
      let id = recentIds.get(known);
      if (id === undefined) {
        id = createHmac('sha256', key)
          .update(JSON.stringify(contactFields.map((field) => contact[field] ?? '')))
          .digest('base64url')
          .slice(0, 22);
        if (recentIds.size >= maxRecentIds) recentIds.clear();
        recentIds.set(known, id);
      }
      return id;
    },
    keepInStep(req, res, contactId) {
      const header = req.headers.cookie;
      const current = header === undefined ? '' : (cookiePattern.exec(header)?.[1] ?? '');
      if (current === contactId) return;
      res.append(
        'Set-Cookie',
        contactId === '' ? clearLines[req.secure ? 'secure' : 'plain'] : setLine(contactId, req.secure),
      );
    },
  };
}

/**
 * Whether the request may carry the cookie: a cheap test that lets most anonymous requests skip the rest. It reads
 * `req.rawHeaders` (names as sent, HTTP/2's cookie headers one by one) rather than `req.headers`: reaching Node's
 * `headers` getter costs an anonymous request more than all of the package's other work (npm run bench).
 */
export function mayCarrySessionCookie(req: Request): boolean {
  const raw = req.rawHeaders;
  for (let index = 0; index < raw.length; index += 2) {
    const name = raw[index] as string;
    if (name.length === 6 && name.toLowerCase() === 'cookie' && raw[index + 1]?.includes(cookieName))
      return true;
  }
  return false;
}
