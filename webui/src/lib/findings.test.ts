import { describe, expect, it } from "vitest";
import { EVIDENCE_UNITS, confidenceWord, deepLinks, formatEvidence, formatValue, linkWindow, rankFindings } from "./findings";

describe("finding evidence", () => {
  it("says every number with its unit", () => {
    expect(formatValue(41_000_000, "ns")).toBe("41.0 ms");
    expect(formatValue(1.5 * 2 ** 30, "bytes")).toBe("1.50 GiB");
    expect(formatValue(8, "steps", 8)).toBe("8 of 8 steps");
    expect(formatValue(0.31, "share")).toBe("31.0%");
    expect(formatValue(12.5, "%")).toBe("12.5%");
    expect(formatValue(3.2e12, "FLOP/s")).toBe("3.20 TFLOP/s");
    expect(formatValue(1234, "ops")).toBe("1,234 ops");
    expect(formatValue(2.345, "FLOP/B")).toBe("2.35 FLOP/B");
    expect(formatValue(3, "", 4)).toBe("3 of 4");
    expect(formatValue("jit_step", null)).toBe("jit_step");
    expect(formatValue(null, "ns")).toBe("–");
    expect(formatEvidence({ label: "median of other hosts", value: 1.31e8, unit: "ns" })).toBe("median of other hosts: 131 ms");
  });

  it("formats every unit the rules emit, and units per step", () => {
    // The recompile finding once read "spread over the steps: 43090810 ns per step".
    expect(formatValue(43_090_809.6, "ns per step")).toBe("43.1 ms per step");
    expect(formatValue(43_090_809.6, "ns/step")).toBe("43.1 ms per step");
    expect(formatValue(12.5, "calls per step")).toBe("12.5 calls per step");
    expect(formatValue(2.345, "FLOP/byte")).toBe("2.35 FLOP/B");
    expect(formatValue(2.5e11, "B/s")).not.toContain("/step");
    expect(formatValue(43_090_809.6, "calls")).toBe("43,090,810 calls");
    for (const u of EVIDENCE_UNITS) {
      for (const v of u === "fraction" ? [0.4321, 1] : [43_090_809.6, 0.4321, 7]) {
        const text = formatValue(v, u);
        // No raw long digit runs (a number a person has to count the digits of), no NaN.
        expect(text, `${v} ${u}`).not.toMatch(/\d{5,}|NaN|undefined/);
        if (u === "ns") expect(text).toMatch(/ (ns|µs|ms|s|min)$/);
      }
    }
    expect(formatValue(8, "steps", 10)).toBe("8 of 10 steps");
    expect(formatValue(1, "compilations")).toBe("1 compilation");
    expect(formatValue(2, "compilations")).toBe("2 compilations");
  });

  it("puts confidence in words", () => {
    expect(confidenceWord(0.8)).toBe("high");
    expect(confidenceWord(0.5)).toBe("medium");
    expect(confidenceWord(0.2)).toBe("low");
    expect(confidenceWord(null)).toBe("unknown");
  });
});

describe("finding deep links", () => {
  it("opens the trace at the window (with a margin) on the host and device", () => {
    const [t] = deepLinks({ timeline: { host: "host-1", track: 12, device: 3, start_ns: 1_000_000, end_ns: 3_000_000 } });
    expect(t!.kind).toBe("timeline");
    expect(t!.view).toEqual({ tab: "trace", t0: 900_000, t1: 3_100_000, host: "host-1", dev: 3 });
    expect(t!.label).toBe("Timeline: window on host-1, device 3");
    const ls = deepLinks({ timeline: { host: "w1", device: null, start_ns: 0, end_ns: 10, step: 43 }, hosts_steps: { host: "w1" } });
    expect(ls.map((l) => [l.kind, l.label])).toEqual([["timeline", "Timeline: step 43 on w1"], ["hosts", "Devices of w1"]]);
    expect(ls[0]!.view).toEqual({ tab: "trace", t0: 0, t1: 11, host: "w1" });
    expect(ls[1]!.view).toEqual({ tab: "overview", host: "w1" });
    expect(linkWindow(0, 100)).toEqual({ t0: 0, t1: 105 });
  });

  it("filters the op table, selects the op, points at the roofline and the scope", () => {
    const ls = deepLinks({
      ops: { module: "jit_step", op: "fusion.3", q: "fusion.3", category: "fusion", host: null },
      roofline: { module: "jit_step", op: "fusion.3", program_id: 1 },
      framework: { path: "train_step/layer_3/moe" },
    });
    expect(ls.map((l) => l.kind)).toEqual(["ops", "roofline", "framework"]);
    expect(ls[0]!.view).toEqual({ tab: "ops", module: "jit_step", op: "fusion.3", filter: "fusion.3" });
    expect(ls[1]!.view).toEqual({ tab: "roofline", module: "jit_step", op: "fusion.3" });
    expect(ls[2]!.view).toEqual({ tab: "overview", scope: "train_step/layer_3/moe" });
    // A category alone filters; incomplete links are left out.
    expect(deepLinks({ ops: { module: null, op: null, q: null, category: "collective" } })[0]!.view).toEqual({ tab: "ops", filter: "collective" });
    expect(deepLinks({ timeline: { host: null, device: null, start_ns: null, end_ns: null }, roofline: { module: null, op: null }, framework: { path: null } })).toEqual([]);
    expect(deepLinks(null)).toEqual([]);
  });

  it("ranks by cost per step, a roll-up after what it rolls up", () => {
    const r = rankFindings([
      { id: "a", cost_ns_per_step: 5 }, { id: "mfu", cost_ns_per_step: 9, summary: true }, { id: "b", cost_ns_per_step: 9 },
    ]);
    expect(r.map((f) => f.id)).toEqual(["b", "mfu", "a"]);
  });
});
