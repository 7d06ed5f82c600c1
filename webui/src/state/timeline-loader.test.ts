import { describe, expect, it } from "vitest";
import type { TimelineData } from "../api/timeline-decode";
import type { FetchPlan } from "../lib/prefetch";
import { TimelineLoader, type LoadedWindow } from "./timeline-loader";

function data(p: FetchPlan): TimelineData {
  return {
    start_ns: p.start_ns, end_ns: p.end_ns, width: p.width, bucket_ns: (p.end_ns - p.start_ns) / (2 * p.width), count: 0,
    strings: [], tracks: [], start: new Float64Array(), dur: new Float64Array(), id: new Uint32Array(), name: new Uint32Array(),
    track: new Uint32Array(), depth: new Uint16Array(), wireBytes: 100,
  };
}

function harness() {
  const timers: { fn: () => void; ms: number }[] = [];
  const requests: { plan: FetchPlan; signal: AbortSignal; resolve: () => void }[] = [];
  const seen: (LoadedWindow | null)[] = [];
  const loader = new TimelineLoader(
    (plan, _tracks, signal) =>
      new Promise<TimelineData>((resolve, reject) => {
        signal.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
        requests.push({ plan, signal, resolve: () => resolve(data(plan)) });
      }),
    (w) => seen.push(w),
    { setTimer: (fn, ms) => { timers.push({ fn, ms }); return timers.length; }, clearTimer: () => undefined, debounceMs: 40 },
  );
  const runTimers = () => timers.splice(0).forEach((t) => t.fn());
  return { loader, timers, requests, seen, runTimers };
}

const B = { start_ns: 0, end_ns: 1e9 };
const flush = () => new Promise((r) => setTimeout(r, 0));

describe("TimelineLoader", () => {
  it("fetches at once when nothing is shown, then serves repeats from memory", async () => {
    const h = harness();
    h.loader.request({ t0_ns: 1e6, t1_ns: 2e6 }, 1000, B, [1]);
    expect(h.timers[0]!.ms).toBe(0);
    h.runTimers();
    expect(h.requests).toHaveLength(1);
    h.requests[0]!.resolve();
    await flush();
    expect(h.seen).toHaveLength(1);
    // A small pan stays within the same aligned request: nothing new.
    h.loader.request({ t0_ns: 1.01e6, t1_ns: 2.01e6 }, 1000, B, [1]);
    expect(h.timers).toHaveLength(0);
    expect(h.loader.stats.requests).toBe(1);
  });

  it("aborts a request the view has left behind", async () => {
    const h = harness();
    h.loader.request({ t0_ns: 1e6, t1_ns: 2e6 }, 1000, B, [1]);
    h.runTimers();
    h.loader.request({ t0_ns: 5e8, t1_ns: 5.001e8 }, 1000, B, [1]);
    expect(h.requests[0]!.signal.aborted).toBe(true);
    expect(h.loader.stats.aborted).toBe(1);
    h.runTimers();
    h.requests[1]!.resolve();
    await flush();
    expect(h.seen.at(-1)!.plan.start_ns).toBeLessThan(5e8);
    expect(h.seen.at(-1)!.plan.end_ns).toBeGreaterThan(5.001e8);
  });

  it("waits for the view to settle while something is on screen, and uses the cache when returning", async () => {
    const h = harness();
    const w1 = { t0_ns: 1e6, t1_ns: 2e6 };
    h.loader.request(w1, 1000, B, [1]);
    h.runTimers();
    h.requests[0]!.resolve();
    await flush();
    h.loader.request({ t0_ns: 1e6, t1_ns: 1.2e6 }, 1000, B, [1]); // zoom in 5x
    expect(h.timers[0]!.ms).toBeGreaterThan(0);
    h.runTimers();
    h.requests[1]!.resolve();
    await flush();
    h.loader.request(w1, 1000, B, [1]); // back: cache hit, no request
    expect(h.loader.stats.cacheHits).toBe(1);
    expect(h.requests).toHaveLength(2);
    expect(h.seen.at(-1)!.plan).toEqual(h.seen[0]!.plan);
  });

  it("a different track set is a different request", async () => {
    const h = harness();
    h.loader.request({ t0_ns: 1e6, t1_ns: 2e6 }, 1000, B, [1]);
    h.runTimers();
    h.requests[0]!.resolve();
    await flush();
    h.loader.request({ t0_ns: 1e6, t1_ns: 2e6 }, 1000, B, [1, 2]);
    h.runTimers();
    expect(h.requests).toHaveLength(2);
  });
});
