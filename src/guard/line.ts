/** One request's place in the line: the lower its `usage`, the sooner it is served. */
export interface Ticket {
  /** How much its contact asked lately: its token budget spent, plus its requests refused for asking twice at once. */
  usage: number;
  /** Epoch ms: past it the request stops waiting. */
  deadline: number;
}

/** What the line decided for a ticket at its head, before it is let out (the back-off and the site-wide cap). */
export type Gate<T extends Ticket, Pass> = (
  ticket: T,
) => Promise<
  { kind: 'go'; pass: Pass } | { kind: 'not-yet'; retryInMs: number } | { kind: 'turned-away'; pass: Pass }
>;

export type Turn<Pass> =
  { kind: 'go'; pass: Pass } | { kind: 'turned-away'; pass: Pass } | { kind: 'full' } | { kind: 'timeout' };

interface Waiting<T extends Ticket, Pass> {
  ticket: T;
  resolve: (turn: Turn<Pass>) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * The line to Reteno of one instance: at most `maxInFlight` calls at once, and the others waiting, the least-used
 * contact first (then the first come). Each waiting request is let out by `gate`, one at a time, which may send it
 * away (a back-off) or hold the whole line until a moment later (the site-wide cap).
 */
export function createLine<T extends Ticket, Pass>(maxInFlight: number, gate: Gate<T, Pass>) {
  let inFlight = 0;
  let pumping = false;
  let resumeTimer: ReturnType<typeof setTimeout> | undefined;
  const waiting = new Set<Waiting<T, Pass>>();

  const leave = (entry: Waiting<T, Pass>, turn: Turn<Pass>) => {
    clearTimeout(entry.timer);
    waiting.delete(entry);
    entry.resolve(turn);
  };

  // Insertion-ordered: among equals the first come is served first, and the last come sent away first.
  const first = (): Waiting<T, Pass> | undefined => {
    let best: Waiting<T, Pass> | undefined;
    for (const entry of waiting) {
      if (best === undefined || entry.ticket.usage < best.ticket.usage) best = entry;
    }
    return best;
  };

  // Lets requests out while there is room; one at a time, as the gate may ask the store.
  const pump = async () => {
    if (pumping || resumeTimer !== undefined) return;
    pumping = true;
    try {
      while (inFlight < maxInFlight) {
        const entry = first();
        if (entry === undefined) return;
        const decision = await gate(entry.ticket);
        // It may have timed out meanwhile.
        if (!waiting.has(entry)) continue;
        if (decision.kind === 'not-yet') {
          resumeTimer = setTimeout(() => {
            resumeTimer = undefined;
            void pump();
          }, decision.retryInMs);
          return;
        }
        if (decision.kind === 'go') inFlight += 1;
        leave(entry, decision);
      }
    } finally {
      pumping = false;
    }
  };

  return {
    /** Waits for the ticket's turn; `full` at once when `maxQueued` already wait and none can be sent away for it. */
    take(ticket: T): Promise<Turn<Pass>> {
      return new Promise((resolve) => {
        const entry: Waiting<T, Pass> = {
          ticket,
          resolve,
          timer: setTimeout(() => leave(entry, { kind: 'timeout' }), ticket.deadline - Date.now()),
        };
        waiting.add(entry);
        void pump();
      });
    },

    /** A call let out by `take` ended: the next one may go. */
    release(): void {
      inFlight -= 1;
      void pump();
    },

    /** Sends the waiting request whose contact asked most away with `full`, if it asked more than `usage`. */
    sendAwayAbove(usage: number): boolean {
      let worst: Waiting<T, Pass> | undefined;
      for (const entry of waiting) {
        if (worst === undefined || entry.ticket.usage >= worst.ticket.usage) worst = entry;
      }
      if (worst === undefined || worst.ticket.usage <= usage) return false;
      leave(worst, { kind: 'full' });
      return true;
    },

    /** Calls let out and not released yet. */
    get inFlight(): number {
      return inFlight;
    },
  };
}
