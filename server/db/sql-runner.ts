import type { PGlite } from '@electric-sql/pglite';
import type pg from 'pg';

/**
 * The launch path's few statements, run on the driver itself rather than through the
 * Prisma client: its per-statement work (request building, result mapping, and the query
 * event that counts statements) cost about as much CPU as PGlite executing the statement.
 * On PostgreSQL each statement is also *named*, so every pooled connection plans it once.
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

export function pgliteSqlRunner(pglite: PGlite, onQuery?: (sql: string) => void): SqlRunner {
  return {
    async rows<T>({ text, values }: SqlStatement): Promise<T[]> {
      // PGlite has one session and its own query queue: the same path the Prisma adapter
      // takes for a statement outside a transaction.
      const result = await pglite.query<T>(text, values as unknown[]);
      onQuery?.(text);
      return result.rows;
    },
  };
}

/** A timestamp parameter for `CAST($n AS timestamp(3))`: UTC wall-clock time, whatever the session zone. */
export function timestampParam(date: Date): string {
  return date.toISOString().replace('Z', '');
}
