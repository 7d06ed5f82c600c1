import { describe, expect, it } from "vitest";
import type { HostsSteps } from "../../api/wire";
import { thresholdValue } from "./findings-section";
import { heatmapData, meanOf } from "./hosts-steps-section";

describe("hosts × steps data", () => {
  it("puts hosts in rows, steps in columns, and the slowest host of each step as its row", () => {
    const host = (name: string, dur: (number | null)[]) => ({
      host: name, devices: [0], dur_ns: dur, start_ns: dur.map(() => 0), compute_ns: dur, collective_ns: dur, host_ns: dur, idle_ns: dur,
      mean_dur_ns: meanOf(dur), slowest_count: 0,
    });
    const hs: HostsSteps = {
      available: true, steps: [3, 4, 5], hosts: [host("a", [10, 11, null]), host("b", [20, 9, 12])],
      slowest: [{ step: 3, host: "b", dur_ns: 20, excess_ns: 10 }, { step: 4, host: "a", dur_ns: 11, excess_ns: 2 }],
      skew: { mean_spread_ns: null, max_spread_ns: null, mean_spread_pct: null, cv: null },
    };
    const d = heatmapData(hs);
    expect(d.rows).toEqual(["a", "b"]);
    expect(d.cols).toEqual([3, 4, 5]);
    expect(d.values[0]).toEqual([10, 11, null]);
    expect(d.slowest).toEqual([1, 0, -1]);
  });

  it("means skip missing values", () => {
    expect(meanOf([1, null, 3])).toBe(2);
    expect(meanOf([null])).toBeNull();
    expect(meanOf([])).toBeNull();
  });
});

describe("rule thresholds", () => {
  it("read in their units", () => {
    expect(thresholdValue("min_ns_per_step", 50_000)).toBe("50.0 µs");
    expect(thresholdValue("min_share_of_step", 0.1)).toBe("10%");
    expect(thresholdValue("min_kernels_per_step", 200)).toBe("200");
    expect(thresholdValue("gpu_only", true)).toBe("true");
  });
});
