import type { ServerResponse } from 'node:http';
import type { Reply } from './replies.js';
import type { Timers } from './timers.js';

/** Size of an `oversize` fault's body: 10 MiB. */
export const oversizeBytes = 10 * 1024 * 1024;

export function sendReply(response: ServerResponse, reply: Reply): void {
  response.writeHead(reply.status, {
    ...reply.headers,
    'content-length': String(Buffer.byteLength(reply.body)),
  });
  response.end(reply.body);
}

/** Sends the reply's head at once, then its body one byte every `intervalMs`. */
export function trickleReply(
  response: ServerResponse,
  reply: Reply,
  intervalMs: number,
  timers: Timers,
): void {
  const body = Buffer.from(reply.body);
  response.writeHead(reply.status, { ...reply.headers, 'content-length': String(body.length) });
  response.flushHeaders();
  let sent = 0;
  const sendNextByte = () => {
    if (response.destroyed) return;
    if (sent === body.length) {
      response.end();
      return;
    }
    response.write(body.subarray(sent, sent + 1));
    sent += 1;
    timers.after(intervalMs, sendNextByte);
  };
  timers.after(intervalMs, sendNextByte);
}

/**
 * Sends 200 with a 10 MiB JSON body, `{"token":"aaa…"}`, chunked: no `Content-Length` warns the client, so only
 * a client that counts the bytes it reads stops early.
 */
export function sendOversize(response: ServerResponse): void {
  const head = '{"token":"';
  const tail = '"}';
  const chunk = Buffer.alloc(64 * 1024, 'a');
  let left = oversizeBytes - head.length - tail.length;
  response.writeHead(200, { 'content-type': 'application/json; charset=utf-8' });
  response.write(head);
  const pump = () => {
    while (left > 0) {
      if (response.destroyed) return;
      const size = Math.min(left, chunk.length);
      left -= size;
      if (!response.write(chunk.subarray(0, size))) {
        response.once('drain', pump);
        return;
      }
    }
    response.end(tail);
  };
  pump();
}
