/** How one request of the doctor ended. */
export type Exchange =
  | {
      kind: 'answer';
      status: number;
      headers: Headers;
      /** The body as UTF-8 text, its first {@link maxBodyBytes} bytes at most. */
      body: string;
      /** Whether the body was longer, and cut. */
      truncated: boolean;
    }
  | { kind: 'timeout' }
  | { kind: 'failed'; detail: string };

/** The most of a body the doctor reads: a page that carries an embed is far smaller. */
export const maxBodyBytes = 2 * 1024 * 1024;

/**
 * One request with Node's fetch, its answer read up to {@link maxBodyBytes}, all within `timeout` ms. Redirects are
 * not followed unless `init.redirect` says so: a redirect is itself a finding (a sign-in page, a login guard), and
 * the cookies of a request never follow one to another host.
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
      ...(await readBody(response)),
    };
  } catch (error) {
    if ((error as Error).name === 'TimeoutError') return { kind: 'timeout' };
    // fetch says "fetch failed" and keeps the reason (ECONNREFUSED, a DNS error…) in `cause`.
    const cause = (error as { cause?: unknown }).cause;
    return { kind: 'failed', detail: cause instanceof Error ? cause.message : (error as Error).message };
  }
}

/** The first {@link maxBodyBytes} of the body; the rest is never read (the connection is closed). */
async function readBody(response: Response): Promise<{ body: string; truncated: boolean }> {
  const reader = response.body?.getReader();
  if (reader === undefined) return { body: '', truncated: false };
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return { body: decode(chunks), truncated: false };
    if (size + value.byteLength > maxBodyBytes) {
      chunks.push(value.subarray(0, maxBodyBytes - size));
      await reader.cancel();
      return { body: decode(chunks), truncated: true };
    }
    chunks.push(value);
    size += value.byteLength;
  }
}

function decode(chunks: Uint8Array[]): string {
  return new TextDecoder().decode(Buffer.concat(chunks));
}

/** What a request that got no answer means, for a check's detail. */
export function noAnswer(url: URL | string, outcome: Exclude<Exchange, { kind: 'answer' }>, timeout: number) {
  return outcome.kind === 'timeout'
    ? `no answer from ${String(url)} within ${timeout} ms`
    : `could not reach ${String(url)}: ${outcome.detail}`;
}

/** The JSON body of an answer that says it is JSON, or `undefined`. */
export function jsonBody(answer: { headers: Headers; body: string }): unknown {
  const type = (answer.headers.get('content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type !== 'application/json' && !(type.startsWith('application/') && type.endsWith('+json'))) {
    return undefined;
  }
  try {
    return JSON.parse(answer.body) as unknown;
  } catch {
    return undefined;
  }
}
