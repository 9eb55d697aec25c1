/**
 * A name → item map for the registries (strategies, scenarios, faults): an explicit list, kebab-case
 * names, and a duplicate name is a programming error (k6's executors work the same way).
 */
export function buildNamedRegistry<T extends { readonly name: string }>(kind: string, list: readonly T[]): ReadonlyMap<string, T> {
  const map = new Map<string, T>();
  for (const item of list) {
    if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(item.name)) throw new Error(`${kind} name "${item.name}" is not kebab-case`);
    if (map.has(item.name)) throw new Error(`duplicate ${kind} name "${item.name}"`);
    map.set(item.name, item);
  }
  return map;
}
