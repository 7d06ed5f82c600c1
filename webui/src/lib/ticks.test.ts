import { describe, expect, it } from "vitest";
import { MAX_DIGITS, niceStep, tickLabel, timeTicks } from "./ticks";

const plain = (s: string) => s.replace(/\u202f/g, " ");

describe("time axis ticks", () => {
  it("picks 1/2/5 steps", () => {
    expect(niceStep(0.3)).toBe(1);
    expect(niceStep(3)).toBe(5);
    expect(niceStep(13)).toBe(20);
    expect(niceStep(450)).toBe(500);
    expect(niceStep(2_000_001)).toBe(5_000_000);
  });

  it("labels in the unit of the step", () => {
    expect(tickLabel(2_000_000, 1_000_000)).toBe("2 ms");
    expect(tickLabel(2_500_000, 500_000)).toBe("2.5 ms");
    expect(tickLabel(1500, 500)).toBe("1.5 µs");
    expect(tickLabel(1230, 10)).toBe("1230 ns");
    expect(tickLabel(2_050_000, 50_000)).toBe("2050 µs");
    expect(tickLabel(3_000_000_000, 1_000_000_000)).toBe("3 s");
    expect(tickLabel(12_000, 2_000)).toBe("12 µs");
    expect(tickLabel(122_020_000, 20_000, [1e6, "ms"])).toBe("122.02 ms");
  });

  it("spaces ticks at least the minimum apart and covers the window", () => {
    const { step_ns, ticks, origin_ns, caption } = timeTicks(0, 10_000_000, 1000, 90);
    expect(step_ns).toBe(1_000_000);
    expect(ticks[0]!.t_ns).toBe(0);
    expect(ticks.at(-1)!.t_ns).toBe(10_000_000);
    expect(ticks.map((t) => t.label).slice(0, 3)).toEqual(["0 ms", "1 ms", "2 ms"]);
    expect(origin_ns).toBeNull();
    expect(caption).toBe("time from start");
    expect(timeTicks(5, 5, 100).ticks).toEqual([]);
  });

  it("starts at the first multiple of the step in the window", () => {
    const { ticks } = timeTicks(1_234_567, 1_334_567, 1000, 90);
    expect(ticks[0]!.t_ns).toBe(1_240_000);
    for (const t of ticks) expect(t.t_ns % 10_000).toBe(0);
  });

  it("labels one axis in one unit: the window's, not each tick's", () => {
    const { ticks } = timeTicks(990_000, 1_010_000, 1000, 90);
    expect(ticks.map((t) => t.label)).toEqual(
      ["0.990 ms", "0.992 ms", "0.994 ms", "0.996 ms", "0.998 ms", "1.000 ms", "1.002 ms", "1.004 ms", "1.006 ms", "1.008 ms", "1.010 ms"]);
    // 20 µs at 122 ms: still absolute, in ms with the step's decimals.
    const mid = timeTicks(122_000_000, 122_020_000, 1180, 90);
    expect(mid.origin_ns).toBeNull();
    expect(mid.ticks[1]!.label).toBe("122.002 ms");
  });

  it("a 2 µs window 1.02 s in: short, distinct offsets from a shown origin, never 1020496.2 µs", () => {
    const t0 = 1_020_496_200;
    const { step_ns, ticks, origin_ns, caption } = timeTicks(t0, t0 + 2020, 1180, 90);
    expect(step_ns).toBe(200);
    expect(origin_ns).toBe(1_020_490_000);
    expect(plain(caption)).toBe("1.020 49 s +");
    const labels = ticks.map((t) => t.label);
    expect(labels).toEqual(["+6.2 µs", "+6.4 µs", "+6.6 µs", "+6.8 µs", "+7.0 µs", "+7.2 µs", "+7.4 µs", "+7.6 µs", "+7.8 µs", "+8.0 µs", "+8.2 µs"]);
    expect(new Set(labels).size).toBe(labels.length);
    for (const l of labels) expect(l.length).toBeLessThanOrEqual(8);
    // Each label is its tick: origin + offset.
    for (const t of ticks) expect(origin_ns! + Number(t.label.slice(1, -3)) * 1000).toBeCloseTo(t.t_ns, 6);
  });

  it("keeps labels short at every zoom level and position", () => {
    for (const t0 of [0, 7, 999_999, 122_004_310, 1_020_496_200, 61_867_001_000, 3_600e9 + 17]) {
      for (let span = 10; span <= 1e11; span *= 7) {
        const { ticks, origin_ns, caption } = timeTicks(t0, t0 + span, 1180, 90);
        const labels = ticks.map((t) => t.label);
        expect(labels.length).toBeGreaterThan(0);
        expect(new Set(labels).size).toBe(labels.length);
        for (const l of labels) {
          expect(l.length, `${t0} +${span}: ${l}`).toBeLessThanOrEqual(10);
          expect(l.replace(/^\+/, "").split(" ")[0]!.replace(/^-?0\.0*/, "").replace(".", "").length).toBeLessThanOrEqual(MAX_DIGITS);
        }
        if (origin_ns !== null) expect(caption).toMatch(/ \+$/);
      }
    }
  });
});
