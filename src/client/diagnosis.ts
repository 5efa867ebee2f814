/**
 * What the page says on the console when a token call is answered by something other than the token route, before
 * the route ever answered on this page: a set-up problem, named by a short code that README's Troubleshooting
 * explains.
 */

/** README's Troubleshooting, where every code below has its row. */
export const troubleshootingUrl =
  'https://github.com/express-reteno-inbox/express-reteno-inbox#troubleshooting';

export type SetUpProblem =
  /** Redirected, most likely to a sign-in page: a login guard in front of the token route. */
  | 'login-redirect'
  /** 404: nothing serves the token route on this path. */
  | 'route-not-found'
  /** 403 to a page that sends no CSRF token: a CSRF middleware guards the route. */
  | 'csrf-token-missing'
  /** 403 to a page that sends its CSRF token: the middleware reads another header, or wants another token. */
  | 'csrf-token-refused'
  /** 500 to a page that sends no CSRF token: a CSRF middleware whose refusal went to an error handler, or an error. */
  | 'csrf-or-server-error'
  /** Anything else: some other middleware answered. */
  | 'other-middleware';

/** The likely problem behind an answer without the route's marker. */
export function diagnose(
  answer: { status: number; redirected: boolean },
  sendsCsrfToken: boolean,
): SetUpProblem {
  if (answer.redirected) return 'login-redirect';
  if (answer.status === 404) return 'route-not-found';
  if (answer.status === 403) return sendsCsrfToken ? 'csrf-token-refused' : 'csrf-token-missing';
  if (answer.status === 500 && !sendsCsrfToken) return 'csrf-or-server-error';
  return 'other-middleware';
}

/** The console line (and the rejection's message) for a problem: the status, the code and the one link. */
export function describeProblem(status: number, problem: SetUpProblem): string {
  return `Reteno inbox: HTTP ${status} from something other than the token route [${problem}], see ${troubleshootingUrl}`;
}
