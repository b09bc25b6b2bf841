// A generic LRU cache with time-free expiry by access count, and a memoize helper.

export interface CacheStats {
  hits: number;
  misses: number;
  evictions: number;
}

export class CapacityError extends RangeError {
  constructor(capacity: number) {
    super(`capacity must be a positive integer, got ${capacity}`);
    this.name = 'CapacityError';
  }
}

export class LruCache<K, V> {
  private readonly entries = new Map<K, V>();
  private stats: CacheStats = { hits: 0, misses: 0, evictions: 0 };

  constructor(private capacity: number = 100) {
    if (!Number.isInteger(capacity) || capacity <= 0) throw new CapacityError(capacity);
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    if (!this.entries.has(key)) {
      this.stats.misses += 1;
      return undefined;
    }
    const value = this.entries.get(key) as V;
    this.entries.delete(key);
    this.entries.set(key, value);
    this.stats.hits += 1;
    return value;
  }

  /** Store a value; returns the evicted key, if one had to go. */
  set(key: K, value: V): K | undefined {
    if (this.entries.has(key)) {
      this.entries.delete(key);
    } else if (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next().value as K;
      this.entries.delete(oldest);
      this.stats.evictions += 1;
      this.entries.set(key, value);
      return oldest;
    }
    this.entries.set(key, value);
    return undefined;
  }

  delete(key: K): boolean {
    return this.entries.delete(key);
  }

  resize(capacity: number): K[] {
    if (!Number.isInteger(capacity) || capacity <= 0) throw new CapacityError(capacity);
    this.capacity = capacity;
    const evicted: K[] = [];
    for (const key of this.entries.keys()) {
      if (this.entries.size - evicted.length <= capacity) break;
      evicted.push(key);
    }
    for (const key of evicted) this.entries.delete(key);
    this.stats.evictions += evicted.length;
    return evicted;
  }

  keys(): K[] {
    return [...this.entries.keys()];
  }

  hitRate(): number {
    const total = this.stats.hits + this.stats.misses;
    return total === 0 ? 0 : this.stats.hits / total;
  }

  getStats(): CacheStats {
    return { ...this.stats };
  }
}

export function memoize<A extends string | number, R>(fn: (arg: A) => R, capacity = 50): (arg: A) => R {
  const cache = new LruCache<A, R>(capacity);
  return (arg: A): R => {
    const hit = cache.get(arg);
    if (hit !== undefined) return hit;
    const value = fn(arg);
    cache.set(arg, value);
    return value;
  };
}
