import { describe, expect, it } from "vitest";
import { filterKernels, formatDims, kernelCells, kernelSummary, sharedBytes, sortKernels, tensorCoreLabel, type KernelLike } from "./kernels";

const k = (over: Partial<KernelLike>): KernelLike => ({
  name: "k", launches: 1, total_ns: 1000, avg_ns: 1000, min_ns: 1000, max_ns: 1000,
  grid: [1, 1, 1], block: [128, 1, 1], registers_per_thread: 32, static_shared_bytes: 0,
  dynamic_shared_bytes: 0, occupancy_pct: 100, tensor_core: false, op: null, ...over,
});

const rows = [
  k({ name: "gmm", launches: 18, total_ns: 8_550_861, op: "pallas_call.28", tensor_core: null, dynamic_shared_bytes: 114_688, grid: [256, 11, 1], block: [256, 1, 1], occupancy_pct: 12.5 }),
  k({ name: "nvjet_sm90_tst_128x160", launches: 9, total_ns: 5_159_458, op: "custom-call.14", tensor_core: true }),
  k({ name: "loop_add_fusion_17", launches: 18, total_ns: 40_000, op: "loop_add_fusion.17" }),
];

describe("kernel table", () => {
  it("shows launch shapes without trailing 1s", () => {
    expect(formatDims([256, 11, 1])).toBe("256×11");
    expect(formatDims([128, 1, 1])).toBe("128");
    expect(formatDims([1, 1, 1])).toBe("1");
    expect(formatDims([16, 16, 11])).toBe("16×16×11");
    expect(formatDims(null)).toBe("–");
  });

  it("adds static and dynamic shared memory", () => {
    expect(sharedBytes(k({ static_shared_bytes: 1024, dynamic_shared_bytes: 4096 }))).toBe(5120);
    expect(sharedBytes(k({ static_shared_bytes: null, dynamic_shared_bytes: null }))).toBeNull();
  });

  it("sorts by any column, ties by total time", () => {
    expect(sortKernels(rows, "total_ns", true).map((r) => r.name)).toEqual(["gmm", "nvjet_sm90_tst_128x160", "loop_add_fusion_17"]);
    expect(sortKernels(rows, "launches", true).map((r) => r.name)).toEqual(["gmm", "loop_add_fusion_17", "nvjet_sm90_tst_128x160"]);
    expect(sortKernels(rows, "name", false)[0]!.name).toBe("gmm");
    expect(sortKernels(rows, "shared", true)[0]!.name).toBe("gmm");
    expect(sortKernels(rows, "op", false).map((r) => r.op)).toEqual(["custom-call.14", "loop_add_fusion.17", "pallas_call.28"]);
    expect(rows[0]!.name).toBe("gmm"); // not sorted in place
  });

  it("filters by kernel or op name, every word", () => {
    expect(filterKernels(rows, "NVJET").map((r) => r.name)).toEqual(["nvjet_sm90_tst_128x160"]);
    expect(filterKernels(rows, "pallas").map((r) => r.name)).toEqual(["gmm"]);
    expect(filterKernels(rows, "loop 17")).toHaveLength(1);
    expect(filterKernels(rows, "  ")).toHaveLength(3);
  });

  it("renders a row's cells and the summary", () => {
    const cells = kernelCells(rows[0]!, 10_000_000);
    expect(cells[0]).toBe("85.5%");
    expect(cells[2]).toBe("18");
    expect(cells[6]).toBe("256×11");
    expect(cells[7]).toBe("256");
    expect(cells[9]).toContain("112");
    expect(cells[10]).toBe("12.5 %");
    expect(cells[11]).toBe("unknown");
    expect(tensorCoreLabel(true)).toBe("yes");
    expect(tensorCoreLabel(false)).toBe("no");
    const s = kernelSummary({ kernels: 201, launches: 2133, total_ns: 152_687_671, tensor_core_ns: 30_000_000, tensor_core_unknown_ns: 60_000_000 });
    expect(s).toContain("201 kernels");
    expect(s).toContain("2,133 launches");
    expect(s).toMatch(/19\.6\s?%/);
  });
});
