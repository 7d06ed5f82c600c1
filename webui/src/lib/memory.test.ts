import { describe, expect, it } from "vitest";
import { bufferMatches, exactMatch, formatDeltaBytes, groupRows, headroomText, hloModuleKey, inGroup, peakMarker, pickProgram, programLabel, runsOnDevice, sourceLabel, windowAround } from "./memory";

const GiB = 1024 ** 3;
const progs = [
  { id: "jit_init(1)", name: "jit_init", ran_ns: 0, available: true, peak_heap_bytes: 9 * GiB },
  { id: "jit_step(7)", name: "jit_step", ran_ns: 80e6, available: true, peak_heap_bytes: 2 * GiB },
  { id: "jit_eval(9)", name: "jit_eval", ran_ns: 20e6, available: false, peak_heap_bytes: null },
];

describe("pickProgram", () => {
  it("takes the URL's program by id, then by name", () => {
    expect(pickProgram(progs, "jit_step(7)", "jit_eval(9)")!.id).toBe("jit_eval(9)");
    expect(pickProgram(progs, "jit_step(7)", "jit_init")!.id).toBe("jit_init(1)");
  });
  it("defaults to the server's default, else to the program that ran the most (not the first, not the largest)", () => {
    expect(pickProgram(progs, "jit_eval(9)")!.id).toBe("jit_eval(9)");
    expect(pickProgram(progs, null)!.id).toBe("jit_step(7)");
    expect(pickProgram(progs, "gone(3)", "unknown")!.id).toBe("jit_step(7)");
    expect(pickProgram([], null)).toBeNull();
  });
});

describe("programLabel", () => {
  it("says the run time, its share and the peak", () => {
    expect(programLabel(progs[1]!, 100e6)).toBe("jit_step(7) · ran 80.0 ms (80.0%) · peak 2.00 GiB");
    expect(programLabel(progs[0]!, 100e6)).toBe("jit_init(1) · did not run in this capture · peak 9.00 GiB");
    expect(programLabel(progs[2]!, 100e6)).toContain("no buffer assignment");
  });
});

describe("groupRows", () => {
  it("sorts, shares of the peak, and folds the tail into one row that keeps the sum", () => {
    const g = Array.from({ length: 12 }, (_, i) => ({ key: `s${i}`, bytes: (i + 1) * 100, count: 1 }));
    const total = g.reduce((s, x) => s + x.bytes, 0);
    const rows = groupRows(g, total, 5);
    expect(rows.map((r) => r.key)).toEqual(["s11", "s10", "s9", "s8", "other (8 groups)"]);
    expect(rows.reduce((s, r) => s + r.bytes, 0)).toBe(total);
    expect(rows[4]!.count).toBe(8);
    expect(rows.reduce((s, r) => s + r.share, 0)).toBeCloseTo(1, 12);
    expect(groupRows(g.slice(0, 2), 0).map((r) => r.share)).toEqual([0, 0]);
  });
});

describe("buffers", () => {
  const b = { instruction: "fusion.3", shape: "f32[8192,16384]{1,0}", category: "temporary", scope: "router", op_name: "jit(step)/router/dot_general", source: { file: "/src/model.py", line: 42 } };
  it("labels the source line", () => {
    expect(sourceLabel(b.source)).toEqual({ short: "model.py:42", full: "/src/model.py:42" });
    expect(sourceLabel(null)).toEqual({ short: "", full: "" });
  });
  it("filters by any column", () => {
    expect(bufferMatches(b, "ROUTER")).toBe(true);
    expect(bufferMatches(b, "model.py:42")).toBe(true);
    expect(bufferMatches(b, "8192")).toBe(true);
    expect(bufferMatches(b, "experts")).toBe(false);
    expect(bufferMatches(b, "  ")).toBe(true);
  });
  it("matches a group row", () => {
    expect(inGroup(b, "scope", "router")).toBe(true);
    expect(inGroup({ ...b, scope: "" }, "scope", "(no scope)")).toBe(true);
    expect(inGroup(b, "category", "parameter")).toBe(false);
  });
});

describe("headroom and the timeline", () => {
  it("says the headroom against the capacity", () => {
    expect(headroomText(63_763_906_560, 15_074_838_272)).toBe("45.3 GiB free of 59.4 GiB (76.4%)");
    expect(headroomText(null, 1)).toBe("capacity unknown");
    expect(headroomText(GiB, 2 * GiB)).toBe("1.00 GiB over 1.00 GiB");
  });
  it("finds the op itself among substring matches", () => {
    const ms = [{ name: "fusion.31", id: 1 }, { name: "fusion.3", id: 2 }];
    expect(exactMatch(ms, "fusion.3")!.id).toBe(2);
    expect(exactMatch(ms, "fusion.4")).toBeNull();
  });
  it("pads the window around an occurrence", () => {
    expect(windowAround(10_000, 500)).toEqual({ t0: 9000, t1: 11_500 });
    expect(windowAround(100, 10_000)).toEqual({ t0: 0, t1: 30_100 });
  });
});

describe("peakMarker", () => {
  it("sits on the series where it reaches the peak, nearest the server's position", () => {
    expect(peakMarker([0, 1, 2, 3, 4], [5, 9, 5, 9, 5], 2, 9)).toEqual({ position: 1, bytes: 9, index: 1 });
    expect(peakMarker([0, 1, 2, 3, 4], [5, 9, 5, 9, 5], 3, 9)).toEqual({ position: 3, bytes: 9, index: 3 });
  });
  it("falls back to the server's point when the drawn series does not reach the peak", () => {
    expect(peakMarker([0, 10, 20], [5, 7, 6], 12, 9)).toEqual({ position: 12, bytes: 9, index: -1 });
    expect(peakMarker([0, 10, 20], [5, 7, 6], 10, 9)).toEqual({ position: 10, bytes: 9, index: 1 });
  });
});

describe("links", () => {
  it("names the HLO module by name when unique, else by id", () => {
    const ps = [{ id: "a(1)", name: "a" }, { id: "b(2)", name: "b" }, { id: "b(3)", name: "b" }];
    expect(hloModuleKey(ps[0]!, ps)).toBe("a");
    expect(hloModuleKey(ps[2]!, ps)).toBe("b(3)");
  });
  it("offers the timeline only for instructions that run", () => {
    expect(runsOnDevice("fusion", "temporary")).toBe(true);
    expect(runsOnDevice("fusion", "parameter")).toBe(true); // a donated buffer's defining op
    expect(runsOnDevice("parameter", "parameter")).toBe(false);
    expect(runsOnDevice("constant", "constant")).toBe(false);
  });
});

describe("formatDeltaBytes", () => {
  it("signs the change in binary units", () => {
    expect(formatDeltaBytes(1.5 * GiB)).toBe("+1.50 GiB");
    expect(formatDeltaBytes(-512 * 1024)).toBe("−512 KiB");
    expect(formatDeltaBytes(0)).toBe("0 B");
  });
});
