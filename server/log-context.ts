/**
 * What every log line says about where it comes from: the request id while handling a
 * request, the job (and grade) in background work. The logger's `mixin` reads it, so child
 * loggers, yoga's logs and anything called from the request carry it without passing it down.
 *
 * An AsyncLocalStorage is process-wide by nature (like the async hooks it is built on); it
 * holds no state outside the `run` calls that scope it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';

export interface LogContext {
  reqId?: string;
  /** A background job's name, e.g. `grade-delivery`. */
  job?: string;
  gradeId?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

/** Runs `fn` with `context` on every line it logs, replacing any outer context. */
export function withLogContext<T>(context: LogContext, fn: () => T): T {
  return storage.run(context, fn);
}

export function currentLogContext(): LogContext | undefined {
  return storage.getStore();
}

export const REQUEST_ID_HEADER = 'x-request-id';
/** An incoming id is kept only when short and plain (it ends up in every log line). */
const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._:-]{8,128}$/;

/** The proxy's X-Request-Id when it is sane, else a fresh UUID. */
export function requestIdFor(incoming: string | null): string {
  return incoming && ACCEPTABLE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}
