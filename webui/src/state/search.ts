// Stepping through search matches across the whole profile. Matches come in
// time order, one page at a time (GET search?q=&after_ns=); the cursor loads
// the next page when it steps past the loaded ones and wraps at the end.

import type { SearchMatch, SearchResponse } from "../api/wire";

export type SearchPager = (q: string, afterNs: number | null) => Promise<SearchResponse>;

export class SearchCursor {
  q = "";
  matches: SearchMatch[] = [];
  total = 0;
  index = -1;
  private nextAfter: number | null = null;
  private seen = new Set<number>();
  private generation = 0;

  constructor(private readonly pager: SearchPager) {}

  get current(): SearchMatch | null {
    return this.index >= 0 ? (this.matches[this.index] ?? null) : null;
  }

  get complete(): boolean {
    return this.nextAfter === null;
  }

  /** "3 of 120", "no matches", or "" when idle. */
  label(): string {
    if (!this.q) return "";
    if (this.total === 0) return "no matches";
    return `${this.index + 1} of ${this.total}`;
  }

  private append(r: SearchResponse): void {
    for (const m of r.matches) {
      if (this.seen.has(m.id)) continue;
      this.seen.add(m.id);
      this.matches.push(m);
    }
    this.total = Math.max(r.total, this.matches.length);
    this.nextAfter = r.next_after_ns;
  }

  /** New search: loads the first page and moves to the first match. */
  async start(q: string): Promise<SearchMatch | null> {
    const gen = ++this.generation;
    this.q = q;
    this.matches = [];
    this.seen.clear();
    this.total = 0;
    this.index = -1;
    this.nextAfter = null;
    if (!q) return null;
    const r = await this.pager(q, null);
    if (gen !== this.generation) return null; // superseded
    this.append(r);
    this.index = this.matches.length ? 0 : -1;
    return this.current;
  }

  /** Next match (loading more if needed); wraps to the first after the last. */
  async next(): Promise<SearchMatch | null> {
    if (!this.q || this.total === 0) return null;
    if (this.index + 1 < this.matches.length) {
      this.index++;
      return this.current;
    }
    if (this.nextAfter !== null) {
      const gen = this.generation;
      const before = this.matches.length;
      const r = await this.pager(this.q, this.nextAfter);
      if (gen !== this.generation) return null;
      this.append(r);
      if (this.matches.length > before) {
        this.index = before;
        return this.current;
      }
    }
    this.index = this.matches.length ? 0 : -1;
    return this.current;
  }

  /** Move to the i-th loaded match (a click in the result list). */
  goTo(i: number): SearchMatch | null {
    if (i < 0 || i >= this.matches.length) return null;
    this.index = i;
    return this.current;
  }

  /** Load the next page without moving; the number of matches it added. */
  async more(): Promise<number> {
    if (!this.q || this.nextAfter === null) return 0;
    const gen = this.generation;
    const before = this.matches.length;
    const r = await this.pager(this.q, this.nextAfter);
    if (gen !== this.generation) return 0;
    this.append(r);
    return this.matches.length - before;
  }

  /** Previous match; from the first it wraps to the last loaded one only when all are loaded. */
  prev(): SearchMatch | null {
    if (!this.matches.length) return null;
    if (this.index > 0) this.index--;
    else if (this.complete) this.index = this.matches.length - 1;
    return this.current;
  }
}
