/** How one request of the doctor ended. */
export type Exchange =
  | { kind: 'answer'; status: number; headers: Headers; body: string }
  | { kind: 'timeout' }
  | { kind: 'failed'; detail: string };

/**
 * One request with Node's fetch, its answer read in full, all within `timeout` ms. Redirects are not followed
 * unless `init.redirect` says so: a redirect is itself a finding (a sign-in page, a login guard).
 */
export async function exchange(url: URL | string, init: RequestInit, timeout: number): Promise<Exchange> {
  try {
    const response = await fetch(url, {
      redirect: 'manual',
      ...init,
      signal: AbortSignal.timeout(timeout),
    });
    return {
      kind: 'answer',
      status: response.status,
      headers: response.headers,
      body: await response.text(),
    };
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') return { kind: 'timeout' };
    // fetch says "fetch failed" and keeps the reason (ECONNREFUSED, a DNS error…) in `cause`.
    const cause = (error as { cause?: unknown }).cause;
    return { kind: 'failed', detail: cause instanceof Error ? cause.message : (error as Error).message };
  }
}

/** What a request that got no answer means, for a check's detail. */
export function noAnswer(url: URL | string, outcome: Exclude<Exchange, { kind: 'answer' }>, timeout: number) {
  return outcome.kind === 'timeout'
    ? `no answer from ${String(url)} within ${timeout} ms`
    : `could not reach ${String(url)}: ${outcome.detail}`;
}

/** The JSON body of an answer that says it is JSON, or `undefined`. */
export function jsonBody(answer: { headers: Headers; body: string }): unknown {
  if (!/^application\/(?:[\w.+-]+\+)?json\b/i.test(answer.headers.get('content-type') ?? ''))
    return undefined;
  try {
    return JSON.parse(answer.body) as unknown;
  } catch {
    return undefined;
  }
}
