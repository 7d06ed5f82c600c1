import { describe, expect, it } from "vitest";
import { READABLE_PX, windowForHit } from "./hit-window";

const B = { start_ns: 0, end_ns: 200_000_000 };
const mid = (w: { t0_ns: number; t1_ns: number }) => (w.t0_ns + w.t1_ns) / 2;
const px = (w: { t0_ns: number; t1_ns: number }, dur: number, width: number) => (dur * width) / (w.t1_ns - w.t0_ns);

describe("windowForHit", () => {
  it("zooms a tiny hit to a readable width, centred", () => {
    const w = windowForHit({ t0_ns: 0, t1_ns: 60_000_000 }, 122_004_310, 1530, 1180, B);
    expect(mid(w)).toBeCloseTo(122_004_310 + 765, 3);
    expect(px(w, 1530, 1180)).toBeCloseTo(READABLE_PX, 6);
  });

  it("keeps the zoom when the hit is already readable and fits", () => {
    const cur = { t0_ns: 0, t1_ns: 1_000_000 };
    const w = windowForHit(cur, 150_000_000, 200_000, 1000, B);
    expect(w.t1_ns - w.t0_ns).toBe(1_000_000);
    expect(mid(w)).toBe(150_100_000);
  });

  it("zooms out for a hit wider than the view", () => {
    const w = windowForHit({ t0_ns: 0, t1_ns: 1_000 }, 10_000_000, 20_000_000, 1000, B);
    expect(w.t1_ns - w.t0_ns).toBe(40_000_000);
  });

  it("stays in bounds and at least the minimum span", () => {
    const w = windowForHit({ t0_ns: 0, t1_ns: 60_000_000 }, 0, 0, 1000, B);
    expect(w.t0_ns).toBe(0);
    expect(w.t1_ns - w.t0_ns).toBe(1000);
  });
});
