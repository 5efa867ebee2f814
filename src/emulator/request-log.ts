import type { LoggedRequest } from './types.js';

/**
 * The requests the emulator received, newest last, bounded both in entries and in bytes: when a new request would
 * pass either bound, the oldest entries go. A request larger than the byte bound on its own is not kept.
 */
export class RequestLog {
  readonly #entries: LoggedRequest[] = [];
  /** The size of each entry, in the same order. */
  readonly #sizes: number[] = [];
  #bytes = 0;
  readonly #maxEntries: number;
  readonly #maxBytes: number;

  constructor(maxEntries: number, maxBytes: number) {
    this.#maxEntries = maxEntries;
    this.#maxBytes = maxBytes;
  }

  /** Oldest first. The same array throughout, so a reference to it stays current. */
  get entries(): readonly LoggedRequest[] {
    return this.#entries;
  }

  /** Keeps `entry`, counted as `bytes`, unless it could never fit. */
  add(entry: LoggedRequest, bytes: number): void {
    if (this.#maxEntries === 0 || bytes > this.#maxBytes) return;
    this.#entries.push(entry);
    this.#sizes.push(bytes);
    this.#bytes += bytes;
    while (this.#entries.length > this.#maxEntries || this.#bytes > this.#maxBytes) {
      this.#entries.shift();
      this.#bytes -= this.#sizes.shift() ?? 0;
    }
  }

  clear(): void {
    this.#entries.length = 0;
    this.#sizes.length = 0;
    this.#bytes = 0;
  }
}

/** What a request costs the log: the bytes of its method, URL, headers (as kept) and body. */
export function loggedSize(
  method: string,
  url: string,
  headers: LoggedRequest['headers'],
  body: string,
): number {
  let bytes = Buffer.byteLength(method) + Buffer.byteLength(url) + Buffer.byteLength(body);
  for (const [name, value] of Object.entries(headers)) {
    bytes += Buffer.byteLength(name);
    for (const item of Array.isArray(value) ? value : [value ?? '']) bytes += Buffer.byteLength(item);
  }
  return bytes;
}
