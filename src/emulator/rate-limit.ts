/**
 * A fixed-window request limit, as Reteno's "N requests a second": the window starts with the first request after
 * the last one ended, and every request in it counts.
 */
export class FixedWindowLimit {
  readonly #requests: number;
  readonly #perMs: number;
  #windowStart = Number.NEGATIVE_INFINITY;
  #count = 0;

  constructor(limit: { requests: number; perMs: number }) {
    this.#requests = limit.requests;
    this.#perMs = limit.perMs;
  }

  /**
   * Counts a request at `now` (`performance.now()`). Returns `null` when it is within the limit, else the
   * milliseconds until the window ends.
   */
  take(now: number): number | null {
    if (now - this.#windowStart >= this.#perMs) {
      this.#windowStart = now;
      this.#count = 0;
    }
    this.#count += 1;
    return this.#count <= this.#requests ? null : this.#windowStart + this.#perMs - now;
  }
}
