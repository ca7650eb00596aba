import { Prisma } from '../generated/prisma/client.ts';

/**
 * Helpers for the few hot-path statements written in SQL. Parameters go through the
 * driver adapter (PGlite or pg), so values are passed in shapes both treat alike.
 */

/** A timestamp as UTC wall-clock for `timestamp(3)` columns, whatever the session time zone. */
export function sqlTimestamp(date: Date): Prisma.Sql {
  return Prisma.sql`CAST(${date.toISOString().replace('Z', '')} AS timestamp(3))`;
}

