import { createHmac } from 'node:crypto';
import type { Request, Response } from 'express';
import { contactFields, type ValidContact } from './contact.js';
import { htmlSafeJson } from './html-safe.js';
import { compileView, nonceAttribute, slotMarker, textsAround } from './views.js';

/** The BroadcastChannel the pages of one site tell each other about a change of visitor on. */
export const sessionChannel = 'reteno-inbox';

/** The cookie that remembers which contact the browser's last page was rendered for. */
export const sessionCookie = 'reteno_inbox_contact';

const maxRecentIds = 256;
const cookieName = `${sessionCookie}=`;

// The cookie in a Cookie header, when it holds an id as contactIdOf makes it. Anything else counts as no cookie.
const cookiePattern = /(?:^|;)\s*reteno_inbox_contact\s*=\s*([A-Za-z0-9_-]{22})\s*(?:;|$)/;

/** What one page tells the other tabs: its contact's id ('' for nobody), and whether that changed. */
export interface SessionState {
  contactId: string;
  /** `contactId` as the page prints it, through the HTML-safe serializer. */
  contactIdJson: string;
  /** The browser's previous page was for someone else: this page announces `contactId` to the other tabs. */
  announce: boolean;
}

export interface SessionWatch {
  /**
   * Called once when a page's helper renders: compares the page's contact with the cookie and, when they differ,
   * updates the cookie (headers are still unsent while a template renders).
   */
  update(req: Request, res: Response, contact: ValidContact | undefined): SessionState;
  /** The script a page without an inbox prints to tell the other tabs that nobody is signed in any more. */
  renderSignedOut(nonce: string | undefined): string;
}

/**
 * Tells the site's other tabs that the visitor changed. Ids are HMACs of the contact's fields keyed with a secret
 * derived from the API key: the same on every instance of the site, and meaningless to whoever reads them.
 */
export function createSessionWatch(apiKey: string): SessionWatch {
  const key = createHmac('sha256', apiKey).update('express-reteno-inbox session-watch').digest();
  // Most pages are for a few recent visitors: their ids are remembered (a bounded memo), not hashed again.
  // Validated contact fields hold no control characters, so '\n' keeps them apart.
  const recentIds = new Map<string, { id: string; json: string }>();
  const nobody = { id: '', json: htmlSafeJson('') };
  const contactIdOf = (contact: ValidContact) => {
    const known = `${contact.email ?? ''}\n${contact.phone ?? ''}\n${contact.externalCustomerId ?? ''}`;
    let remembered = recentIds.get(known);
    if (remembered === undefined) {
      const id = createHmac('sha256', key)
        .update(JSON.stringify(contactFields.map((field) => contact[field] ?? '')))
        .digest('base64url')
        .slice(0, 22);
      remembered = { id, json: htmlSafeJson(id) };
      if (recentIds.size >= maxRecentIds) recentIds.clear();
      recentIds.set(known, remembered);
    }
    return remembered;
  };

  const view = 'views/session-change.ejs';
  const [beforeNonce, afterNonce] = textsAround(
    view,
    compileView(view, ['nonceAttribute', 'channel'])({
      nonceAttribute: slotMarker('nonceAttribute'),
      channel: htmlSafeJson(sessionChannel),
    }),
    ['nonceAttribute'] as const,
  );

  return {
    update(req, res, contact) {
      const { id: contactId, json: contactIdJson } = contact === undefined ? nobody : contactIdOf(contact);
      if (contactId === (cookieValue(req.headers.cookie) ?? '')) {
        return { contactId, contactIdJson, announce: false };
      }
      if (!res.headersSent) {
        const options = { httpOnly: true, sameSite: 'lax', secure: req.secure, path: '/' } as const;
        if (contactId === '') res.clearCookie(sessionCookie, options);
        else res.cookie(sessionCookie, contactId, options);
      }
      return { contactId, contactIdJson, announce: true };
    },
    renderSignedOut(nonce) {
      return beforeNonce + nonceAttribute(nonce) + afterNonce;
    },
  };
}

/** Whether the request may carry the cookie: a cheap test that lets most anonymous requests skip the helper. */
export function mayCarrySessionCookie(req: Request): boolean {
  return req.headers.cookie?.includes(cookieName) === true;
}

/** The session cookie's value in a Cookie header, if it holds an id. */
function cookieValue(header: string | undefined): string | undefined {
  return header === undefined ? undefined : cookiePattern.exec(header)?.[1];
}
