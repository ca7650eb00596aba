/**
 * Loads for many parents in one statement: every key asked for in one turn of the event loop
 * (a page of apps resolving the same field) goes to one call of `load`. Nothing is cached
 * beyond that turn, so a value read after a mutation in the same request is read afresh.
 */
export function batchedLoad<V>(load: (keys: readonly string[]) => Promise<ReadonlyMap<string, V>>, absent: V): (key: string) => Promise<V> {
  let pending: { keys: Set<string>; result: Promise<ReadonlyMap<string, V>> } | null = null;
  return (key) => {
    if (!pending) {
      const keys = new Set<string>();
      // setImmediate, not a microtask: the parents' resolvers run across several promise
      // turns (the plugins' own awaits), all of which finish before the next macrotask.
      const result = new Promise<ReadonlyMap<string, V>>((resolve, reject) =>
        setImmediate(() => {
          pending = null;
          load([...keys]).then(resolve, reject);
        }),
      );
      pending = { keys, result };
    }
    pending.keys.add(key);
    return pending.result.then((values) => values.get(key) ?? absent);
  };
}
