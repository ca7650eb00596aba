import { Prisma } from '../generated/prisma/client.ts';
import { timestampParam } from './sql-runner.ts';

/**
 * Helpers for the few hot-path statements written in SQL. Parameters go through the
 * driver adapter (PGlite or pg), so values are passed in shapes both treat alike.
 */

/** A timestamp as UTC wall-clock for `timestamp(3)` columns, whatever the session time zone. */
export function sqlTimestamp(date: Date): Prisma.Sql {
  // The same UTC wall-clock text the launch path's statements bind (sql-runner.ts).
  return Prisma.sql`CAST(${timestampParam(date)} AS timestamp(3))`;
}

