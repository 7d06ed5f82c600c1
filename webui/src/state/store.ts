// A minimal observable value: the only state primitive the views use.

export type Listener<T> = (value: T, previous: T) => void;

export class Store<T> {
  private listeners = new Set<Listener<T>>();
  constructor(private value: T) {}

  get(): T {
    return this.value;
  }

  set(next: T): void {
    const prev = this.value;
    if (Object.is(prev, next)) return;
    this.value = next;
    for (const l of [...this.listeners]) l(next, prev);
  }

  /** Replace the value without notifying (the caller already acted on it). */
  setSilently(next: T): void {
    this.value = next;
  }

  update(fn: (v: T) => T): void {
    this.set(fn(this.value));
  }

  /** Subscribe; returns the unsubscribe function. */
  subscribe(l: Listener<T>): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }
}
