import { describe, expect, it } from "vitest";
import { niceStep, tickLabel, timeTicks } from "./ticks";

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
  });

  it("spaces ticks at least the minimum apart and covers the window", () => {
    const { step_ns, ticks } = timeTicks(0, 10_000_000, 1000, 90);
    expect(step_ns).toBe(1_000_000);
    expect(ticks[0]!.t_ns).toBe(0);
    expect(ticks.at(-1)!.t_ns).toBe(10_000_000);
    expect(ticks.map((t) => t.label).slice(0, 3)).toEqual(["0 ms", "1 ms", "2 ms"]);
    expect(timeTicks(5, 5, 100).ticks).toEqual([]);
  });

  it("starts at the first multiple of the step in the window", () => {
    const { ticks } = timeTicks(1_234_567, 1_334_567, 1000, 90);
    expect(ticks[0]!.t_ns).toBe(1_240_000);
    for (const t of ticks) expect(t.t_ns % 10_000).toBe(0);
  });
});
