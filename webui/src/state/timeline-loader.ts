// Feeds the timeline renderer from the viewport API: plans an aligned request
// with a prefetch margin (lib/prefetch), serves repeats from an LRU cache,
// waits a few ms while the view is still moving, and aborts requests that the
// view has left behind. The renderer only ever draws `current`.

import type { TimelineData } from "../api/timeline-decode";
import { LruCache } from "../lib/lru";
import { covers, planFetch, planKey, type FetchPlan } from "../lib/prefetch";
import type { Bounds, TimeWindow } from "../lib/transform";

export interface LoadedWindow {
  key: string;
  plan: FetchPlan;
  data: TimelineData;
  /** performance.now() when the response finished arriving. */
  arrivedAt: number;
}

export type TimelineFetcher = (plan: FetchPlan, tracks: number[], signal: AbortSignal) => Promise<TimelineData>;

export interface LoaderStats {
  requests: number;
  aborted: number;
  cacheHits: number;
  errors: number;
}

export interface LoaderOptions {
  debounceMs?: number;
  cacheEntries?: number;
  cacheBytes?: number;
  /** Injected for tests. */
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (h: unknown) => void;
  now?: () => number;
}

export class TimelineLoader {
  current: LoadedWindow | null = null;
  /** The plan of the request in flight (or waiting for its debounce). */
  pending: { key: string; plan: FetchPlan } | null = null;
  lastError: Error | null = null;
  readonly stats: LoaderStats = { requests: 0, aborted: 0, cacheHits: 0, errors: 0 };
  private readonly cache: LruCache<string, LoadedWindow>;
  private controller: AbortController | null = null;
  private timer: unknown = null;
  private readonly debounceMs: number;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (h: unknown) => void;
  private readonly now: () => number;

  constructor(
    private readonly fetcher: TimelineFetcher,
    private readonly onChange: (w: LoadedWindow | null, error: Error | null) => void,
    opts: LoaderOptions = {},
  ) {
    this.debounceMs = opts.debounceMs ?? 40;
    this.cache = new LruCache<string, LoadedWindow>(opts.cacheEntries ?? 24, opts.cacheBytes ?? 96 * 1024 * 1024, (w) =>
      Math.max(1, w.data.wireBytes || w.data.count * 30),
    );
    this.setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = opts.clearTimer ?? ((h) => clearTimeout(h as ReturnType<typeof setTimeout>));
    this.now = opts.now ?? (() => performance.now());
  }

  /**
   * The view moved: make sure data for it is shown or on its way. Returns the
   * plan it wants (for display/debugging).
   */
  request(view: TimeWindow, width_px: number, bounds: Bounds, tracks: number[]): FetchPlan {
    const plan = planFetch(view, width_px, bounds);
    const key = planKey(plan, tracks.join(","));
    if (this.current?.key === key) return plan;
    const hit = this.cache.get(key);
    if (hit) {
      this.cancelPending();
      this.stats.cacheHits++;
      this.current = hit;
      this.onChange(hit, null);
      return plan;
    }
    if (this.pending?.key === key) return plan;
    this.cancelPending();
    this.pending = { key, plan };
    // Fetch at once when nothing usable is on screen; otherwise wait until the
    // view settles for a moment so a fast zoom does not send every step.
    const usable = this.current !== null && covers(this.current.data, view, width_px, bounds);
    const delay = this.current === null ? 0 : usable ? this.debounceMs * 2 : this.debounceMs;
    this.timer = this.setTimer(() => {
      this.timer = null;
      void this.fetch(key, plan, tracks);
    }, delay);
    return plan;
  }

  private cancelPending(): void {
    if (this.timer !== null) {
      this.clearTimer(this.timer);
      this.timer = null;
    }
    if (this.controller) {
      this.controller.abort();
      this.controller = null;
      this.stats.aborted++;
    }
    this.pending = null;
  }

  private async fetch(key: string, plan: FetchPlan, tracks: number[]): Promise<void> {
    const controller = new AbortController();
    this.controller = controller;
    this.stats.requests++;
    try {
      const data = await this.fetcher(plan, tracks, controller.signal);
      if (controller.signal.aborted) return;
      const loaded: LoadedWindow = { key, plan, data, arrivedAt: this.now() };
      this.cache.set(key, loaded);
      this.controller = null;
      this.pending = null;
      this.current = loaded;
      this.lastError = null;
      this.onChange(loaded, null);
    } catch (e) {
      if (controller.signal.aborted || (e instanceof DOMException && e.name === "AbortError")) return;
      this.controller = null;
      this.pending = null;
      this.stats.errors++;
      this.lastError = e as Error;
      this.onChange(this.current, e as Error);
    }
  }

  /** Forget everything (tracks changed, profile changed). */
  reset(): void {
    this.cancelPending();
    this.cache.clear();
    this.current = null;
  }

  dispose(): void {
    this.cancelPending();
  }
}
