import { parseJson } from './api-request.js';
import { recordBytes, stringBytes } from './memory.js';
import type { LoggedRequest } from './types.js';

/** A request as it arrived, before the log turns it into a {@link LoggedRequest}. */
export type ArrivedRequest = Omit<LoggedRequest, 'body'>;

/**
 * The requests the emulator received, newest last, bounded in entries and in memory: when a new request would pass
 * either bound, the oldest entries go. A request larger than the memory bound on its own is not kept.
 *
 * An entry keeps its body as text and parses it each time `body` is read: a parsed body can take twenty times the
 * memory of its text (`[{},{},…]`), and the bound must hold for what is kept.
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

  /**
   * Keeps the request unless it could never fit, and returns its entry, whose `status` the caller sets once it
   * answers. `bodyText` is `null` when the body was too large to read.
   */
  add(request: ArrivedRequest, bodyText: string | null): LoggedRequest {
    const entry = loggedRequest(request, bodyText);
    const bytes = entryBytes(request, bodyText);
    if (this.#maxEntries === 0 || bytes > this.#maxBytes) return entry;
    this.#entries.push(entry);
    this.#sizes.push(bytes);
    this.#bytes += bytes;
    while (this.#entries.length > this.#maxEntries || this.#bytes > this.#maxBytes) {
      this.#entries.shift();
      this.#bytes -= this.#sizes.shift() ?? 0;
    }
    return entry;
  }

  clear(): void {
    this.#entries.length = 0;
    this.#sizes.length = 0;
    this.#bytes = 0;
  }
}

/** The entry: the request's fields, and a `body` read from the text on each access. */
function loggedRequest(request: ArrivedRequest, bodyText: string | null): LoggedRequest {
  const entry = { ...request } as LoggedRequest;
  Object.defineProperty(entry, 'body', {
    enumerable: true,
    get: () => (bodyText === null ? undefined : loggedBody(bodyText)),
  });
  return entry;
}

/** The body as the log shows it: its JSON value, else its text, else (when empty) `undefined`. */
function loggedBody(text: string): unknown {
  const json = parseJson(text);
  if (json !== undefined) return json;
  return text === '' ? undefined : text;
}

/** What an entry may cost in memory: its strings (method, path, query, headers as kept, body text) and itself. */
function entryBytes(request: ArrivedRequest, bodyText: string | null): number {
  let bytes =
    3 * recordBytes + stringBytes(request.method) + stringBytes(request.path) + stringBytes(bodyText);
  for (const [name, value] of Object.entries(request.query)) bytes += stringBytes(name) + stringBytes(value);
  for (const [name, value] of Object.entries(request.headers)) {
    bytes += stringBytes(name);
    for (const item of Array.isArray(value) ? value : [value ?? '']) bytes += stringBytes(item);
  }
  return bytes;
}
