import { STATUS_CODES } from 'node:http';

/** An answer, built before it is written so that a fault can change how it is delivered. */
export interface Reply {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
}

export function jsonReply(status: number, value: unknown, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { ...headers, 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify(value),
  };
}

/** A short plain-text answer; the text defaults to the status's reason phrase. */
export function textReply(status: number, text?: string, headers: Record<string, string> = {}): Reply {
  return {
    status,
    headers: { ...headers, 'content-type': 'text/plain; charset=utf-8' },
    body: `${text ?? STATUS_CODES[status] ?? `HTTP ${status}`}\n`,
  };
}

export function emptyReply(status: number, headers: Record<string, string> = {}): Reply {
  return { status, headers, body: '' };
}
