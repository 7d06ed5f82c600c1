import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { TimeWindow } from "../../lib/transform";
import { URL_DELAY_MS, WindowUrl } from "./window-url";

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("WindowUrl", () => {
  it("writes the window once, in integer ns, after the view stops moving", () => {
    let w: TimeWindow = { t0_ns: 0, t1_ns: 10 };
    const writes: [number, number][] = [];
    const url = new WindowUrl(() => w, (t0, t1) => writes.push([t0, t1]));
    for (let i = 1; i <= 5; i++) { // a wheel zoom: five windows 100 ms apart
      w = { t0_ns: i + 0.4, t1_ns: 100 * i + 0.6 };
      url.schedule();
      vi.advanceTimersByTime(100);
    }
    expect(writes).toEqual([]);
    vi.advanceTimersByTime(URL_DELAY_MS - 100);
    expect(writes).toEqual([[5, 501]]); // the last window, as it is when written
  });

  it("writes nothing once cancelled (the panel was destroyed)", () => {
    const writes: number[] = [];
    const url = new WindowUrl(() => ({ t0_ns: 1, t1_ns: 2 }), (t0) => writes.push(t0));
    url.schedule();
    url.cancel();
    vi.advanceTimersByTime(10 * URL_DELAY_MS);
    expect(writes).toEqual([]);
  });
});
