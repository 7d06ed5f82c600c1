import { describe, expect, it } from "vitest";
import { covers, planFetch, planKey, quantizeWidth } from "./prefetch";

const B = { start_ns: 0, end_ns: 1 << 30 };

describe("prefetch plan", () => {
  it("asks for at least one visible span of margin on each side", () => {
    for (const [t0, t1] of [[1000, 1900], [5_000_000, 5_000_700], [123_456, 223_456], [1 << 20, (1 << 20) + 1024]]) {
      const p = planFetch({ t0_ns: t0!, t1_ns: t1! }, 1000, B);
      const span = t1! - t0!;
      expect(p.start_ns).toBeLessThanOrEqual(t0! - span);
      expect(p.end_ns).toBeGreaterThanOrEqual(t1! + span);
    }
  });

  it("gives at least one bucket (two slices) per visible pixel", () => {
    const w = { t0_ns: 10_000_000, t1_ns: 10_600_000 };
    const p = planFetch(w, 1000, B);
    const bucket = (p.end_ns - p.start_ns) / (2 * p.width);
    expect(bucket).toBeLessThanOrEqual((w.t1_ns - w.t0_ns) / 1000);
    expect(covers({ start_ns: p.start_ns, end_ns: p.end_ns, bucket_ns: bucket }, w, 1000, B)).toBe(true);
  });

  it("small pans and zooms reuse the same request", () => {
    const a = planFetch({ t0_ns: 1_000_000, t1_ns: 1_600_000 }, 1000, B);
    const b = planFetch({ t0_ns: 1_010_000, t1_ns: 1_610_000 }, 1000, B);
    const c = planFetch({ t0_ns: 1_000_000, t1_ns: 1_650_000 }, 1010, B);
    expect(planKey(a, "1,2")).toBe(planKey(b, "1,2"));
    expect(planKey(a, "1,2")).toBe(planKey(c, "1,2"));
    expect(planKey(a, "1,2")).not.toBe(planKey(a, "1"));
  });

  it("zooming in by 2x changes the level and the resolution", () => {
    const a = planFetch({ t0_ns: 1_000_000, t1_ns: 1_600_000 }, 1000, B);
    const z = planFetch({ t0_ns: 1_000_000, t1_ns: 1_300_000 }, 1000, B);
    expect(z.level).toBe(a.level - 1);
    expect((z.end_ns - z.start_ns) / z.width).toBeLessThan((a.end_ns - a.start_ns) / a.width);
  });

  it("clips to the profile and scales the width with it", () => {
    const p = planFetch({ t0_ns: 0, t1_ns: 1000 }, 1000, { start_ns: 0, end_ns: 1000 });
    expect(p.start_ns).toBe(0);
    expect(p.end_ns).toBe(1000);
    expect(p.width).toBeGreaterThanOrEqual(1000);
  });

  it("quantises canvas widths", () => {
    expect(quantizeWidth(1)).toBe(128);
    expect(quantizeWidth(1000)).toBe(1024);
    expect(quantizeWidth(1025)).toBe(1152);
  });

  it("data that misses part of the view, or is too coarse, does not cover it", () => {
    const w = { t0_ns: 1000, t1_ns: 2000 };
    expect(covers({ start_ns: 1500, end_ns: 5000, bucket_ns: 0.1 }, w, 1000, B)).toBe(false);
    expect(covers({ start_ns: 0, end_ns: 5000, bucket_ns: 10 }, w, 1000, B)).toBe(false);
    expect(covers({ start_ns: 0, end_ns: 5000, bucket_ns: 1 }, w, 1000, B)).toBe(true);
  });
});
