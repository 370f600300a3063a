/**
 * A bounded least-recently-used map, for the caches on the request path: memory stays flat
 * whatever the callers send.
 *
 * @module
 */

/** A map of at most `capacity` entries that forgets the least recently used first. */
export interface LruCache<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): void;
  delete(key: K): void;
}

/** Creates an LRU cache; a capacity of 0 makes a cache that never holds anything. */
export function createLruCache<K, V>(capacity: number): LruCache<K, V> {
  // A Map iterates in insertion order, so re-inserting on use keeps the oldest entry first.
  const entries = new Map<K, V>();
  return {
    get(key) {
      const value = entries.get(key);
      if (value !== undefined) {
        entries.delete(key);
        entries.set(key, value);
      }
      return value;
    },
    set(key, value) {
      if (capacity === 0) return;
      entries.delete(key);
      entries.set(key, value);
      if (entries.size > capacity) entries.delete(entries.keys().next().value!);
    },
    delete(key) {
      entries.delete(key);
    },
  };
}
