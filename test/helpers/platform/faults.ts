/**
 * Queued fault injection for the token and scores endpoints.
 */
import { json, type PlatformResponse } from './http.ts';
import type { Fault, FaultEndpoint } from './types.ts';

/** Per-endpoint FIFO queues of faults. */
export interface FaultQueues {
  push(endpoint: FaultEndpoint, faults: Fault[]): void;
  /** The next fault for `endpoint`, removed from its queue; undefined when none is queued. */
  take(endpoint: FaultEndpoint): Fault | undefined;
}

export function createFaultQueues(): FaultQueues {
  const queues: Record<FaultEndpoint, Fault[]> = { token: [], scores: [] };
  return {
    push: (endpoint, faults) => void queues[endpoint].push(...faults),
    take: (endpoint) => queues[endpoint].shift(),
  };
}

/** Waits `ms` with the global setTimeout (so fake timers control it); rejects when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * Plays a fault: waits `hangMs` if given, then returns the faulty response, or undefined
 * when the fault was only a delay and the request should be handled normally.
 */
export async function playFault(fault: Fault, signal: AbortSignal): Promise<PlatformResponse | undefined> {
  if (fault.hangMs) await sleep(fault.hangMs, signal);
  if (fault.status === undefined && fault.body === undefined) {
    return fault.hangMs ? undefined : json(500, { error: 'injected_fault' }, fault.headers);
  }
  const status = fault.status ?? 500;
  if (fault.body === undefined) return json(status, { error: 'injected_fault', status }, fault.headers);
  return { status, headers: { 'content-type': 'text/plain; charset=utf-8', ...fault.headers }, body: fault.body };
}

/** How a played fault is described in request records, e.g. `fault: 503 after 200 ms`. */
export function describeFault(fault: Fault, status: number): string {
  return `fault: ${status}${fault.hangMs ? ` after ${fault.hangMs} ms` : ''}`;
}
