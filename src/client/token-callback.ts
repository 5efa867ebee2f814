import { describeProblem, diagnose } from './diagnosis.js';
import { routeMarkerHeader } from './page-config.js';

/** After this long without a token call, the next one goes out at once. */
const quietMs = 60_000;
/** The wait before the second call of a busy stretch; it doubles for each further call, up to `longestWaitMs`. */
const firstWaitMs = 1000;
const longestWaitMs = 30_000;

export interface TokenCallbackSettings {
  tokenUrl: string;
  /** Headers of every call: the route's marker, and the CSRF token when the page has one. */
  headers: Record<string, string>;
  /** Whether `headers` carry a CSRF token: it changes what a refusal most likely means. */
  sendsCsrfToken: boolean;
  /** True once the visitor changed in another tab: the callback then refuses without calling the route. */
  visitorChanged(): boolean;
  /**
   * Called when something other than the route refused a call after the route had answered on this page: the
   * session ended (a CSRF middleware refuses a token whose session is gone), as when the visitor signs out.
   */
  sessionEnded(): void;
}

/**
 * Reteno's `getAuthTokenCallback`: asks the site's token route for a token. However often Reteno's script asks,
 * callers that ask while a call is pending share it, and calls are spaced out: 1, 2, 4, 8, 16, then 30 s after the
 * previous one, until a quiet minute. An answer without the route's marker is a set-up problem the first time
 * (logged once, with a code), and a session that ended once the route has answered on this page.
 */
export function createTokenCallback(settings: TokenCallbackSettings): () => Promise<string> {
  let pending: Promise<string> | undefined;
  let callsInARow = 0;
  let lastCallAt = 0;
  let routeAnswered = false;
  let problemLogged = false;

  const waitForTurn = (): Promise<void> => {
    const now = Date.now();
    if (now - lastCallAt > quietMs) callsInARow = 0;
    const wait = callsInARow === 0 ? 0 : Math.min(firstWaitMs * 2 ** (callsInARow - 1), longestWaitMs);
    callsInARow += 1;
    return new Promise((resolve) => setTimeout(resolve, wait - (now - lastCallAt)));
  };

  const askRoute = async (): Promise<string> => {
    if (settings.visitorChanged()) throw visitorChangedError();
    lastCallAt = Date.now();
    const answer = await fetch(settings.tokenUrl, { method: 'POST', headers: settings.headers });
    if (answer.headers.get(routeMarkerHeader) !== '1') {
      if (routeAnswered) {
        settings.sessionEnded();
        throw new Error('Reteno inbox: the session ended');
      }
      const line = describeProblem(answer.status, diagnose(answer, settings.sendsCsrfToken));
      if (!problemLogged) console.error(line);
      problemLogged = true;
      throw new Error(line);
    }
    routeAnswered = true;
    if (!answer.ok) throw new Error(`Reteno token: HTTP ${answer.status}`);
    const body: unknown = await answer.json();
    const token = (body as { token?: unknown } | null)?.token;
    if (typeof token !== 'string' || token === '') throw new Error('Reteno token: none');
    return token;
  };

  return function getAuthTokenCallback() {
    if (settings.visitorChanged()) return Promise.reject(visitorChangedError());
    pending ??= waitForTurn()
      .then(askRoute)
      .finally(() => {
        pending = undefined;
      });
    return pending;
  };
}

function visitorChangedError(): Error {
  return new Error('Reteno inbox: the visitor changed in another tab');
}
