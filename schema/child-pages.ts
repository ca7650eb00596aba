/**
 * Pages of one parent's rows (an app's launches, grades, refused launches) fetched with the
 * page's LIMIT in SQL. The Prisma plugin's related connections load a nested page as part of
 * the parent's query, and Prisma 7 runs that as one query for all parents *without* a limit,
 * cutting the page in memory: a dashboard view of an app with 100,000 launches read them all.
 *
 * A cursor is honoured only when it is one of this parent's rows (for `apps`, the parent is
 * the viewer). Prisma finds the cursor's row without the page's other conditions, so any
 * other existing id would page from that row's place and skip one of the parent's rows, where
 * a missing id gives nothing: the answer would tell whether that row exists. Any cursor that
 * is not the parent's is an empty page, as a missing one is. (The query still runs, matching
 * nothing: the Prisma plugin insists that its query is used.)
 */
export async function childPageWhere<Where extends object>(
  cursor: { id?: string } | undefined,
  isChild: (id: string) => Promise<number>,
  where: Where,
): Promise<Where | (Where & { id: { in: string[] } })> {
  if (cursor?.id !== undefined && (await isChild(cursor.id)) === 0) return { ...where, id: { in: [] } };
  return where;
}
