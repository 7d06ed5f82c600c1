import { describe, expect, it } from "vitest";
import { buildOpTree, filterOpTree, flattenOpTree, opsForDevice, pathKeys, sortOpTree } from "./optree";

// self_ns: own time; total_ns: inclusive run time. The while loop's body (add.1) is inside it.
const op = (module: string, category: string, name: string, self_ns: number, total_ns: number, flops: number | null, bound: string, per_device = {}) => ({
  module, program_id: 1, op: name, category, occurrences: 2, self_ns, total_ns, avg_ns: total_ns / 2, share: self_ns / 1000,
  flops, bytes: flops === null ? null : flops / 10, flops_per_s: null, bytes_per_s: null, bound_by: bound, per_device,
});

const OPS = [
  op("m1", "matmul", "dot.1", 400, 400, 4e6, "compute", { "0": 300, "1": 100 }),
  op("m1", "matmul", "dot.2", 100, 100, 1e6, "compute", { "0": 100 }),
  op("m1", "control_flow", "while.1", 50, 250, 0, "memory", { "1": 50 }),
  op("m1", "elementwise", "add.1", 150, 200, null, "memory", { "1": 150 }),
  op("m2", "collective", "all-reduce.1", 300, 300, 0, "interconnect", { "0": 150, "1": 150 }),
];

describe("op tree", () => {
  it("groups program -> category -> op summing self time, so shares add up", () => {
    const t = buildOpTree(OPS);
    expect(t.map((n) => [n.label, n.self_ns, n.total_ns])).toEqual([["m1", 700, null], ["m2", 300, null]]);
    const m1 = t[0]!;
    expect(m1.children.map((c) => [c.label, c.self_ns])).toEqual([["matmul", 500], ["elementwise", 150], ["control_flow", 50]]);
    expect(m1.children[0]!.children.map((c) => [c.label, c.total_ns])).toEqual([["dot.1", 400], ["dot.2", 100]]);
    expect(m1.share + t[1]!.share).toBeCloseTo(1);
    expect(m1.flops).toBe(5e6);
    // Rates over the run time of the ops that have a cost (the loop has none of its own).
    expect(m1.flops_per_s).toBeCloseTo(5e6 / (400 + 100) * 1e9);
    expect(m1.bound_by).toBe("compute");
    expect(t[1]!.bound_by).toBe("interconnect");
  });

  it("sorts every level, filters keeping parents, flattens by expansion", () => {
    const byName = sortOpTree(buildOpTree(OPS), "label", false);
    expect(byName[0]!.children.map((c) => c.label)).toEqual(["control_flow", "elementwise", "matmul"]);
    const f = filterOpTree(buildOpTree(OPS), "dot.2");
    expect(f).toHaveLength(1);
    expect(f[0]!.children[0]!.children.map((c) => c.label)).toEqual(["dot.2"]);
    const rows = flattenOpTree(buildOpTree(OPS), new Set(["m1"]));
    expect(rows.map((r) => [r.node.label, r.depth])).toEqual([["m1", 0], ["matmul", 1], ["elementwise", 1], ["control_flow", 1], ["m2", 0]]);
    const [m, c, leaf] = pathKeys("m1", "matmul", "dot.1");
    const all = flattenOpTree(buildOpTree(OPS), new Set([m!, c!]));
    expect(all.some((r) => r.node.key === leaf)).toBe(true);
  });

  it("restricts to one device and renormalises shares of its busy time", () => {
    const d1 = opsForDevice(OPS, "1");
    expect(d1.map((o) => [o.op, o.self_ns])).toEqual([["dot.1", 100], ["while.1", 50], ["add.1", 150], ["all-reduce.1", 150]]);
    expect(d1[0]!.total_ns).toBeCloseTo(100);
    expect(d1.reduce((s, o) => s + o.share, 0)).toBeCloseTo(1);
    expect(opsForDevice(OPS, "")).toBe(OPS);
  });
});
