import { emulatorErrorCodes, RetenoEmulatorError } from './errors.js';
import type { EmulatorFault, EmulatorFaultKind, EmulatorFaultRoute } from './types.js';

/** The API routes a fault can hit. */
export type ApiRoute = Exclude<EmulatorFaultRoute, 'all'>;

/** A queued fault with its defaults applied. */
export interface ActiveFault {
  kind: EmulatorFaultKind;
  status: number;
  retryAfter: string | null;
  /** `null` when not given: `timeout` then hangs until close, `trickle` uses {@link defaultTrickleIntervalMs}. */
  delayMs: number | null;
  route: EmulatorFaultRoute;
  remaining: number;
}

export const defaultTrickleIntervalMs = 200;

const kinds: Readonly<Record<EmulatorFaultKind, true>> = {
  status: true,
  timeout: true,
  reset: true,
  garbage: true,
  'malformed-json': true,
  trickle: true,
  oversize: true,
};
const routes: Readonly<Record<EmulatorFaultRoute, true>> = {
  token: true,
  inbox: true,
  contact: true,
  all: true,
};
const faultKeys: Readonly<Record<keyof EmulatorFault, true>> = {
  kind: true,
  status: true,
  times: true,
  retryAfter: true,
  delayMs: true,
  route: true,
};

/** Faults waiting to be played, first queued first played. */
export class FaultQueue {
  #faults: ActiveFault[] = [];

  add(fault: EmulatorFault): void {
    this.#faults.push(parseFault(fault));
  }

  clear(): void {
    this.#faults = [];
  }

  /** The fault the next request on `route` plays, if any; counts it as played. */
  take(route: ApiRoute): ActiveFault | undefined {
    const fault = this.#faults.find((queued) => queued.route === 'all' || queued.route === route);
    if (!fault) return undefined;
    fault.remaining -= 1;
    if (fault.remaining <= 0) this.#faults = this.#faults.filter((queued) => queued !== fault);
    return fault;
  }
}

function parseFault(fault: EmulatorFault): ActiveFault {
  if (typeof fault !== 'object' || fault === null)
    invalid('the fault must be an object like { kind: "status" }');
  for (const key of Object.keys(fault)) {
    if (!Object.hasOwn(faultKeys, key))
      invalid(`unknown property \`${key}\`; known: ${Object.keys(faultKeys).join(', ')}`);
  }
  const { kind, status, times, retryAfter, delayMs, route = 'all' } = fault;
  if (typeof kind !== 'string' || !Object.hasOwn(kinds, kind)) {
    invalid(`\`kind\` must be one of ${quoted(Object.keys(kinds))} (received ${JSON.stringify(kind)})`);
  }
  if (typeof route !== 'string' || !Object.hasOwn(routes, route)) {
    invalid(`\`route\` must be one of ${quoted(Object.keys(routes))} (received ${JSON.stringify(route)})`);
  }
  if (status !== undefined) {
    if (kind !== 'status') invalid('`status` applies only to kind "status"');
    if (!Number.isInteger(status) || status < 100 || status > 599) {
      invalid(`\`status\` must be an HTTP status from 100 to 599 (received ${JSON.stringify(status)})`);
    }
  }
  if (times !== undefined && (!Number.isInteger(times) || times < 1)) {
    invalid(
      `\`times\` must be a positive integer, or absent for "until clearFaults()" (received ${JSON.stringify(times)})`,
    );
  }
  if (retryAfter !== undefined) {
    if (kind !== 'status') invalid('`retryAfter` applies only to kind "status"');
    const valid =
      (typeof retryAfter === 'number' && Number.isInteger(retryAfter) && retryAfter >= 0) ||
      (typeof retryAfter === 'string' && retryAfter.trim() !== '' && !/[\r\n]/.test(retryAfter));
    if (!valid) invalid('`retryAfter` must be a whole number of seconds or an HTTP date string');
  }
  if (delayMs !== undefined && (!Number.isFinite(delayMs) || delayMs < 0)) {
    invalid(
      `\`delayMs\` must be a non-negative number of milliseconds (received ${JSON.stringify(delayMs)})`,
    );
  }
  return {
    kind,
    status: status ?? 500,
    retryAfter: retryAfter === undefined ? null : String(retryAfter),
    delayMs: delayMs ?? null,
    route,
    remaining: times ?? Number.POSITIVE_INFINITY,
  };
}

function invalid(problem: string): never {
  throw new RetenoEmulatorError(emulatorErrorCodes.invalidFault, `fail(): ${problem}.`);
}

function quoted(values: string[]): string {
  return values.map((value) => `"${value}"`).join(', ');
}
