/** Timers that `clear()` cancels all at once, so that closing the emulator leaves none behind. */
export class Timers {
  readonly #pending = new Set<NodeJS.Timeout>();
  #cleared = false;

  /** Runs `callback` after `ms`, unless cleared first. */
  after(ms: number, callback: () => void): void {
    if (this.#cleared) return;
    const timer = setTimeout(() => {
      this.#pending.delete(timer);
      callback();
    }, ms);
    this.#pending.add(timer);
  }

  /** Resolves after `ms`; never resolves once cleared (whatever waited is dropped with its connection). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.after(ms, resolve));
  }

  clear(): void {
    this.#cleared = true;
    for (const timer of this.#pending) clearTimeout(timer);
    this.#pending.clear();
  }
}
