// A small LRU cache bounded by entry count and, optionally, total weight
// (e.g. bytes). Map iteration order is insertion order, which gives recency.

export class LruCache<K, V> {
  private readonly map = new Map<K, { value: V; weight: number }>();
  private total = 0;

  constructor(
    readonly maxEntries: number,
    readonly maxWeight = Infinity,
    private readonly weigh: (v: V) => number = () => 1,
  ) {
    if (!(maxEntries >= 1)) throw new Error("LruCache needs maxEntries >= 1");
  }

  get size(): number {
    return this.map.size;
  }

  get weight(): number {
    return this.total;
  }

  has(key: K): boolean {
    return this.map.has(key);
  }

  /** Returns the value and marks it most recently used. */
  get(key: K): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    this.map.delete(key);
    this.map.set(key, e);
    return e.value;
  }

  /** Read without touching recency. */
  peek(key: K): V | undefined {
    return this.map.get(key)?.value;
  }

  set(key: K, value: V): this {
    const old = this.map.get(key);
    if (old) {
      this.total -= old.weight;
      this.map.delete(key);
    }
    const weight = this.weigh(value);
    this.map.set(key, { value, weight });
    this.total += weight;
    this.evict();
    return this;
  }

  delete(key: K): boolean {
    const e = this.map.get(key);
    if (!e) return false;
    this.total -= e.weight;
    return this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
    this.total = 0;
  }

  /** Keys from least to most recently used. */
  keys(): K[] {
    return [...this.map.keys()];
  }

  /** Values from most to least recently used. */
  valuesByRecency(): V[] {
    return [...this.map.values()].map((e) => e.value).reverse();
  }

  private evict(): void {
    // Always keep the newest entry, even if it alone exceeds maxWeight.
    while (this.map.size > 1 && (this.map.size > this.maxEntries || this.total > this.maxWeight)) {
      const oldest = this.map.keys().next().value as K;
      this.delete(oldest);
    }
  }
}
