import { describe, expect, it } from "vitest";
import { attainable, axisRanges, boundBy, decadeSplits, efficiency, nearestPoint, plottable, pointRadius, ridgeOi, rooflineCsv, roofPolyline } from "./roofline";

const P = { flops_per_s: 100e12, bytes_per_s: 1e12 }; // ridge at 100 FLOP/B

describe("roofline math", () => {
  it("ridge, attainable and bound-by", () => {
    expect(ridgeOi(P)).toBe(100);
    expect(attainable(10, P)).toBe(10e12);
    expect(attainable(1000, P)).toBe(100e12);
    expect(attainable(100, P)).toBe(100e12);
    expect(boundBy(50, P)).toBe("memory");
    expect(boundBy(150, P)).toBe("compute");
  });

  it("efficiency is achieved over attainable", () => {
    expect(efficiency({ oi: 10, flops_per_s: 5e12 }, P)).toBeCloseTo(0.5);
    expect(efficiency({ oi: 1000, flops_per_s: 25e12 }, P)).toBeCloseTo(0.25);
  });

  it("roof polyline passes through the ridge", () => {
    const r = roofPolyline(0.1, 1e4, P);
    expect(r.xs).toEqual([0.1, 100, 1e4]);
    expect(r.memory).toEqual([0.1e12, 100e12, null]);
    expect(r.compute).toEqual([null, 100e12, 100e12]);
  });

  it("axis ranges are whole decades holding points and roofs", () => {
    const r = axisRanges([{ oi: 0.003, flops_per_s: 2e8, share: 0.1 }, { oi: 0, flops_per_s: 0, share: 0.5 }], P);
    expect(r.x[0]).toBeCloseTo(0.001);
    expect(r.x[1]).toBe(1e4);
    expect(r.y[0]).toBe(1e8);
    expect(r.y[1]).toBe(1e15);
  });

  it("point size grows with the time share (area ~ share)", () => {
    expect(pointRadius(0)).toBe(3);
    expect(pointRadius(1)).toBe(18);
    expect(pointRadius(0.25) - 3).toBeCloseTo((18 - 3) * 0.5);
    expect(pointRadius(7)).toBe(18);
    expect(plottable({ oi: 0, flops_per_s: 1 })).toBe(false);
    expect(plottable({ oi: 1, flops_per_s: 1 })).toBe(true);
  });

  it("finds the nearest point under the cursor", () => {
    const pts = [{ x: 10, y: 10, r: 5 }, { x: 40, y: 10, r: 3 }];
    expect(nearestPoint(pts, 12, 11)).toBe(0);
    expect(nearestPoint(pts, 45, 10)).toBe(1);
    expect(nearestPoint(pts, 100, 100)).toBe(-1);
  });

  it("exports the table as CSV", () => {
    const csv = rooflineCsv([{
      module: "jit_step", op: "fusion.1", category: "convolution, fused", time_ns: 1500, share: 0.5, flops: 1e9, bytes: 2e6,
      oi: 500, flops_per_s: 6.6e14, bytes_per_s: 1.3e12, bound_by: "compute", efficiency: 0.8,
    }]);
    const [head, row] = csv.trim().split("\r\n");
    expect(head).toBe("module,op,category,time_ns,share,flops,bytes,oi_flops_per_byte,flops_per_s,bytes_per_s,bound_by,efficiency");
    expect(row).toBe('jit_step,fusion.1,"convolution, fused",1500,0.5,1000000000,2000000,500,660000000000000,1300000000000,compute,0.8');
  });
});

describe("decadeSplits", () => {
  it("keeps decades only when two or more are in view", () => {
    expect(decadeSplits([1, 2, 5, 10, 20, 50, 100])).toEqual([1, null, null, 10, null, null, 100]);
    expect(decadeSplits([1e-2, 3e-2, 0.1, 1e9, 2e9, 1e10])).toEqual([1e-2, null, 0.1, 1e9, null, 1e10]);
    expect(decadeSplits([2, 3, 10, 20])).toEqual([2, 3, 10, 20]);
  });
});
