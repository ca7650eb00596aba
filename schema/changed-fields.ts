/**
 * The entries of `data` whose value differs from the row's: what an update really changes.
 * Writing only those, and nothing when there are none, keeps the promise of `updatedAt` ("an
 * update that changes nothing leaves it"): Prisma sets an @updatedAt column on every write
 * that has data, even data equal to what is stored — and the dashboard's edit dialog always
 * sends every field. Arrays (deployment IDs) are compared element by element, in order.
 */
export function changedFields<T extends Record<string, unknown>>(row: Readonly<Record<keyof T, unknown>>, data: T): Partial<T> {
  const changed: Partial<T> = {};
  for (const key of Object.keys(data) as Array<keyof T>) {
    if (!same(row[key], data[key])) changed[key] = data[key];
  }
  return changed;
}

function same(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => v === b[i]);
  return a === b;
}
