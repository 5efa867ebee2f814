import type { IncomingHttpHeaders } from 'node:http';
import type { AuthorizationCheck } from './types.js';

/** A request body read once: its text, and its JSON value (`undefined` when the text is empty or not JSON). */
export interface RequestBody {
  text: string;
  json: unknown;
}

/** An API request, its body read. */
export interface ApiRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** Whether `Authorization` carried the API key as the HTTP Basic password. */
  authorization: AuthorizationCheck;
  body: RequestBody;
}

/** Whether the request says its body is JSON (`application/json`, any parameters). */
export function hasJsonContentType(headers: IncomingHttpHeaders): boolean {
  const mediaType = headers['content-type']?.split(';')[0]?.trim().toLowerCase();
  return mediaType === 'application/json';
}

/** Why the request's body is not JSON sent as `application/json`, or `null` when it is. */
export function jsonBodyProblem(request: ApiRequest): string | null {
  if (!hasJsonContentType(request.headers)) return 'Content-Type must be application/json';
  if (request.body.json === undefined) return 'the body must be JSON';
  return null;
}

/**
 * Reads the whole body as UTF-8 and parses it as JSON when it is JSON: the emulator's one body reader.
 * `null` when the body is longer than `limitBytes` (the rest is not read).
 */
export function readBody(stream: NodeJS.ReadableStream, limitBytes: number): Promise<RequestBody | null> {
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
    stream.once('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      resolve({ text, json: parseJson(text) });
    });
    stream.once('error', reject);
  });
}

/** The JSON value of `text`, or `undefined` when it is empty or not JSON. */
export function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
