import { describe, expect, it } from "vitest";
import type { Step } from "../api/wire";
import { stepStack } from "./steps-chart";

const step = (p: Partial<Step>): Step => ({
  step: 1, start_ns: 0, dur_ns: 100, compute_ns: 0, collective_ns: 0, idle_ns: 0, host_ns: 0, flops: null, mfu: null, ...p,
});

describe("stepStack", () => {
  it("keeps disjoint parts as they are", () => {
    expect(stepStack(step({ compute_ns: 50, collective_ns: 20, host_ns: 10, idle_ns: 20 }))).toEqual([50, 20, 10, 20]);
    expect(stepStack(step({ compute_ns: 30 }))).toEqual([30, 0, 0, 0]);
  });

  it("never stacks higher than the step: overlapping host time comes out of idle first", () => {
    // The shape the server sends for a real CPU capture: idle = dur - compute - collective,
    // host overlaps it.
    const s = step({ dur_ns: 10_408_316, compute_ns: 119_286.5, collective_ns: 3_281_016.25, host_ns: 4_847_420, idle_ns: 7_008_013.25 });
    const v = stepStack(s);
    expect(v[0]).toBe(s.compute_ns);
    expect(v[1]).toBe(s.collective_ns);
    expect(v[2]).toBe(s.host_ns);
    expect(v.reduce((a, b) => a + b, 0)).toBeCloseTo(s.dur_ns, 3);
  });

  it("takes from host, then device parts, when idle is not enough; ignores negatives", () => {
    expect(stepStack(step({ compute_ns: 60, collective_ns: 30, host_ns: 40, idle_ns: 5 }))).toEqual([60, 30, 10, 0]);
    expect(stepStack(step({ dur_ns: 50, compute_ns: 80, idle_ns: -5 }))).toEqual([50, 0, 0, 0]);
  });
});
