import { visitorChangeEvent, visitorCookie } from './page-config.js';

/** How often the cookie is read where the browser has no CookieStore to say when it changed. */
const pollMs = 1000;
/** Where a tab notes, across its own reload, which visitor it reloaded for (see {@link reloadGuard}). */
const reloadNoteKey = 'reteno-inbox:reloaded-for';
/** A note belongs to the document that the reload made when that navigation started this soon after it. */
const reloadNoteMs = 2000;
/**
 * How long a tab that is leaving its page (a form sent, a link followed) waits for its own navigation before it
 * reloads for a change: the response that lands it on its next page is usually what changed the cookie.
 */
const leavingMs = 10_000;
/** Input types that take no typing: a tab focused on one of them may reload. */
const untypedInputs = /^(button|submit|reset|checkbox|radio|image|file|range|color|hidden)$/;

export interface VisitorWatch {
  /** True once the visitor changed: the page's contact is not the browser's any more. */
  changed(): boolean;
  /** The session ended without the cookie saying so yet (a token call refused): acts as on a change. */
  sessionEnded(): void;
}

interface ReloadNote {
  /** `Date.now()` when the tab reloaded. */
  at: number;
  /** The visitor the cookie named then ('' for nobody). */
  visitor: string;
  /** Visitors earlier reloads of this tab were for, and that it did not get. */
  missed: string[];
}

/**
 * Watches the visitor cookie that the middleware keeps in step with the session, and reloads the tab when it no
 * longer names the page's contact: another tab signed out or signed in as someone else. CookieStore's change events
 * tell at once where the browser has them; elsewhere the cookie is read every second, and whenever the tab is
 * shown or focused. A tab whose visitor is typing is not reloaded: it refuses tokens, and reloads once the visitor
 * leaves the field or the tab. Either way the page hears of it through {@link visitorChangeEvent} on `window`.
 */
export function watchVisitor(pageContact: string): VisitorWatch {
  const missed = reloadGuard(pageContact);
  let changed = false;
  let leavingUntil = 0;
  let poll: ReturnType<typeof setInterval> | undefined;

  const check = (): void => {
    const visitor = readVisitorCookie();
    if (visitor !== pageContact) visitorChanged(visitor);
  };

  const visitorChanged = (visitor: string): void => {
    if (changed) return;
    changed = true;
    clearInterval(poll);
    window.dispatchEvent(new Event(visitorChangeEvent));
    // Reloading for a visitor that an earlier reload of this tab did not get would only start a loop between tabs
    // whose addresses each change the session: this tab stays, refusing tokens.
    if (missed.includes(visitor)) return;
    const reloadOnceIdle = (): void => {
      if (visitorIsTyping()) return;
      // This tab is on its way to another page: reloading would cancel that. If it is still here after a while (a
      // download, a navigation that never came), it reloads then.
      const leaving = leavingUntil - Date.now();
      if (leaving > 0) {
        setTimeout(reloadOnceIdle, leaving);
        return;
      }
      removeEventListener('focusout', later);
      document.removeEventListener('visibilitychange', later);
      noteReload({ at: Date.now(), visitor, missed });
      // A GET of the same address, without its fragment (which would not load anything): no form is sent twice.
      location.replace(location.href.split('#')[0] as string);
    };
    // Focus moves on after focusout: look once it has.
    const later = (): void => {
      setTimeout(reloadOnceIdle);
    };
    addEventListener('focusout', later);
    document.addEventListener('visibilitychange', later);
    reloadOnceIdle();
  };

  // The event says what changed: document.cookie may still give the old value when it arrives.
  const onCookieChange = ({ changed, deleted }: CookieChangeEvent): void => {
    let visitor: string | undefined;
    for (const cookie of changed) if (cookie.name === visitorCookie) visitor = cookie.value ?? '';
    for (const cookie of deleted) if (cookie.name === visitorCookie) visitor = '';
    if (visitor !== undefined && visitor !== pageContact) visitorChanged(visitor);
  };
  const cookieStore = (window as { cookieStore?: CookieStore }).cookieStore;
  if (cookieStore === undefined) poll = setInterval(check, pollMs);
  else cookieStore.addEventListener('change', onCookieChange);
  addEventListener('beforeunload', () => {
    leavingUntil = Date.now() + leavingMs;
  });
  addEventListener('focus', check);
  addEventListener('pageshow', check);
  document.addEventListener('visibilitychange', check);
  check();

  return {
    changed: () => changed,
    sessionEnded: () => visitorChanged(readVisitorCookie()),
  };
}

/** The visitor the cookie names: a contact id, or '' for nobody. */
function readVisitorCookie(): string {
  const prefix = `${visitorCookie}=`;
  for (const cookie of document.cookie.split(';')) {
    const trimmed = cookie.trim();
    if (trimmed.startsWith(prefix)) return trimmed.slice(prefix.length);
  }
  return '';
}

/** A focused text field or editable element in a visible tab: what a reload would lose. */
function visitorIsTyping(): boolean {
  const focused = document.activeElement;
  if (document.hidden || focused === null) return false;
  if ((focused as HTMLElement).isContentEditable || focused.tagName === 'TEXTAREA') return true;
  return focused.tagName === 'INPUT' && !untypedInputs.test((focused as HTMLInputElement).type);
}

/**
 * The visitors this tab must not reload for. When this document is the one a reload of the tab made, and the page
 * is not for the visitor it reloaded for (the site gave this address another visitor, as a `GET` that signs in
 * does), that visitor joins those an earlier reload missed; otherwise the list starts empty. So a tab reloads at
 * most once for each visitor while the tabs keep changing the session, and two such tabs stop after a reload each.
 */
function reloadGuard(pageContact: string): string[] {
  let note: Partial<ReloadNote> | null;
  try {
    note = JSON.parse(sessionStorage.getItem(reloadNoteKey) ?? 'null') as Partial<ReloadNote> | null;
    sessionStorage.removeItem(reloadNoteKey);
  } catch {
    // No storage (a sandboxed frame, storage turned off) or not a note: no guard.
    return [];
  }
  if (
    typeof note?.at !== 'number' ||
    typeof note.visitor !== 'string' ||
    Math.abs(performance.timeOrigin - note.at) >= reloadNoteMs ||
    note.visitor === pageContact
  ) {
    return [];
  }
  const earlier = Array.isArray(note.missed) ? note.missed.filter((id) => typeof id === 'string') : [];
  return [...earlier, note.visitor].slice(-8);
}

function noteReload(note: ReloadNote): void {
  try {
    sessionStorage.setItem(reloadNoteKey, JSON.stringify(note));
  } catch {
    // No storage: the reload goes ahead without a note.
  }
}
