import type { IncomingHttpHeaders } from 'node:http';

/** An API request, its body read. */
export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  rawBody: string;
}

/** The body parsed as JSON, or `undefined` when it is empty or not JSON. */
export function parseJsonBody(rawBody: string): unknown {
  if (rawBody.trim() === '') return undefined;
  try {
    return JSON.parse(rawBody) as unknown;
  } catch {
    return undefined;
  }
}

/** Whether the request says its body is JSON (`application/json`, any parameters). */
export function hasJsonContentType(headers: IncomingHttpHeaders): boolean {
  const mediaType = headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  return mediaType === 'application/json';
}

/** Reads the whole body as UTF-8; `null` when it is longer than `limitBytes` (the rest is not read). */
export function readBody(stream: NodeJS.ReadableStream, limitBytes: number): Promise<string | null> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let length = 0;
    const onData = (chunk: Buffer | string) => {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      length += buffer.length;
      if (length > limitBytes) {
        stream.off('data', onData);
        stream.pause();
        resolve(null);
        return;
      }
      chunks.push(buffer);
    };
    stream.on('data', onData);
    stream.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    stream.once('error', reject);
  });
}
