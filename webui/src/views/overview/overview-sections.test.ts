import { describe, expect, it } from "vitest";
import type { Diagnosis, HostsSteps } from "../../api/wire";
import { thresholdValue } from "./findings-section";
import { shortSource } from "./framework-section";
import { headlineItems } from "./headline";
import { deviceParts, heatmapData, meanOf } from "./hosts-steps-section";

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

  it("a device's compute + collectives + host-side + idle add up to the step", () => {
    // 2 devices, 2 steps of 10 and 20; the host ran alone 2 and 4 of them.
    const d = {
      host: "h", devices: [0, 1], steps: [1, 2],
      busy_ns: [[8, 16], [5, 10]], compute_ns: [[6, 12], [5, 10]], collective_ns: [[2, 4], [0, 0]],
      host_ns: [2, 4], idle_ns: [[0, 0], [3, 6]],
    };
    const parts = deviceParts(d);
    expect(parts.map((p) => p.label)).toEqual(["compute", "collectives", "host-side", "idle"]);
    for (const i of [0, 1]) expect(parts.reduce((s, p) => s + p.mean[i]!, 0)).toBe(15);
    // A breakdown stored before host_ns: no host-side column rather than a column of dashes.
    const { host_ns: _, ...old } = d;
    expect(deviceParts(old).map((p) => p.key)).toEqual(["compute_ns", "collective_ns", "idle_ns"]);
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

describe("overview headline", () => {
  const diag = {
    available: true, schema: "1", summary: { steps: 22, hosts: 1, devices: 8, step_ns: 34_200_000, mfu: 0.211, top: null },
    findings: [], rules: [],
  } as unknown as Diagnosis;

  it("leads with the median step and MFU, in their units", () => {
    const items = headlineItems({ count: 23, complete: 22, incomplete: 1, mean_ns: 35_500_000, p50_ns: 34_200_000, p90_ns: 64_700_000, mfu: 0.211, hfu: 0.25 }, diag);
    expect(items.map((i) => i.key)).toEqual(["step", "p90", "steps", "mfu", "hfu", "hosts"]);
    expect(items.map((i) => i.value)).toEqual(["34.2 ms", "64.7 ms", "22 (+1 cut off)", "21.1%", "25.0%", "1 host, 8 devices"]);
  });

  it("flags an MFU above 100% (a peak measured too low) instead of showing it as plain", () => {
    const items = headlineItems({ count: 18, mean_ns: 1, p50_ns: 1, p90_ns: 1, mfu: 2.92, hfu: 0.5 }, null);
    expect(items.find((i) => i.key === "mfu")).toMatchObject({ value: "292.0%", warn: true });
    expect(items.find((i) => i.key === "mfu")!.title).toContain("peak FLOP/s this is measured against is too low");
    expect(items.find((i) => i.key === "hfu")!.warn).toBe(false);
  });

  it("falls back to the diagnosis when the steps did not load, and leaves out what is unknown", () => {
    const items = headlineItems(null, diag);
    expect(items.map((i) => [i.key, i.value])).toEqual([["step", "34.2 ms"], ["steps", "22"], ["mfu", "21.1%"], ["hosts", "1 host, 8 devices"]]);
    expect(headlineItems({ count: 0, mean_ns: null, p50_ns: null, p90_ns: null, mfu: null }, { available: false, reason: "x" } as never).map((i) => i.key)).toEqual(["steps"]);
  });
});

describe("scope source", () => {
  it("keeps the file and its folder, and the line", () => {
    expect(shortSource("/work/main/tests/jobs/planted/straggler.py:53")).toBe("…/planted/straggler.py:53");
    expect(shortSource("train.py:7")).toBe("train.py:7");
  });
});
