import { parse, protocol, type PGlite } from '@electric-sql/pglite';
import type pg from 'pg';

const { serialize } = protocol;
const { parseDescribeStatementResults, parseResults } = parse;
type BackendMessage = Parameters<typeof parseResults>[0][number];

/**
 * The launch path's few statements, run on the driver itself rather than through the
 * Prisma client: its per-statement work (request building, result mapping, and the query
 * event that counts statements) cost about as much CPU as PGlite executing the statement.
 * Each statement is also *named*, so it is planned once (per pooled connection on PostgreSQL).
 * Keep the statements few and their SQL in the modules that use them; parameters are
 * always bound ($1, $2, …), never spliced into the text.
 */
export interface SqlStatement {
  /** Unique per distinct text: PostgreSQL caches the plan per connection under this name. */
  name: string;
  text: string;
  values: readonly SqlValue[];
}

/** Parameter values both drivers bind alike (text arrays as JS arrays, with a cast in the SQL). */
export type SqlValue = string | boolean | number | null | readonly string[];

export interface SqlRunner {
  rows<T>(statement: SqlStatement): Promise<T[]>;
}

export function pgSqlRunner(pool: pg.Pool, onQuery?: (sql: string) => void): SqlRunner {
  return {
    async rows<T>({ name, text, values }: SqlStatement): Promise<T[]> {
      const result = await pool.query({ name, text, values: values as unknown[] });
      onQuery?.(text);
      return result.rows as T[];
    },
  };
}

/**
 * PGlite: each statement is parsed and planned once, under its name, like on PostgreSQL.
 * PGlite's own `query()` parses, describes and plans every call in six calls into the
 * wasm backend; a prepared statement needs one (bind + describe + execute) plus the sync.
 * PGlite exposes the protocol for this; what it does not expose is its lock around
 * queries and transactions, which we must hold so that a statement never runs inside
 * another caller's open transaction — `_runExclusiveTransaction`/`_runExclusiveQuery` are
 * what its own `query()` uses (PGlite is pinned; test/db/sql-runner.test.ts guards this).
 */
export function pgliteSqlRunner(pglite: PGlite, onQuery?: (sql: string) => void): SqlRunner {
  const locks = pglite as unknown as PGliteLocks;
  const parameterTypes = new Map<string, number[]>();
  return {
    rows<T>({ name, text, values }: SqlStatement): Promise<T[]> {
      return locks._runExclusiveTransaction(() =>
        locks._runExclusiveQuery(async () => {
          const messages: BackendMessage[] = [];
          try {
            let types = parameterTypes.get(name);
            if (!types) {
              try {
                const described = await pglite.execProtocol(concat(serialize.parse({ name, text }), serialize.describe({ type: 'S', name })), {
                  syncToFs: false,
                });
                types = parseDescribeStatementResults(described.messages);
              } catch (err) {
                // Never leave a half-prepared name behind: the next call prepares it afresh.
                await pglite.execProtocol(concat(serialize.sync(), serialize.close({ type: 'S', name }), serialize.sync()), { syncToFs: false, throwOnError: false });
                throw err;
              }
              parameterTypes.set(name, types);
            }
            const bound = values.map((value, i) => (value === null ? null : (pglite.serializers[types![i]!] ?? String)(value)));
            const executed = await pglite.execProtocol(
              concat(serialize.bind({ statement: name, values: bound as string[] }), serialize.describe({ type: 'P' }), serialize.execute({})),
              { syncToFs: false },
            );
            messages.push(...executed.messages);
          } finally {
            // Ends the implicit transaction, also after an error (which execProtocol threw).
            messages.push(...(await pglite.execProtocol(serialize.sync(), { syncToFs: false })).messages);
          }
          await pglite.syncToFs();
          onQuery?.(text);
          return (parseResults(messages, pglite.parsers)[0]?.rows ?? []) as T[];
        }),
      );
    },
  };
}

interface PGliteLocks {
  _runExclusiveTransaction<R>(fn: () => Promise<R>): Promise<R>;
  _runExclusiveQuery<R>(fn: () => Promise<R>): Promise<R>;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** A timestamp parameter for `CAST($n AS timestamp(3))`: UTC wall-clock time, whatever the session zone. */
export function timestampParam(date: Date): string {
  return date.toISOString().replace('Z', '');
}
