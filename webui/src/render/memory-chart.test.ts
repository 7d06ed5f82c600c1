import { describe, expect, it } from "vitest";
import { byteAxisMax, byteTicks, byteUnit, decimateMinMax, labelX, peakIndex } from "./memory-chart";

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

describe("peakIndex", () => {
  it("finds the first maximum", () => {
    expect(peakIndex([1, 5, 3, 5, 2])).toBe(1);
    expect(peakIndex([])).toBe(-1);
    expect(peakIndex(new Float64Array([0, 0, 7]))).toBe(2);
  });
});

describe("decimateMinMax", () => {
  it("keeps short series as they are", () => {
    const d = decimateMinMax([0, 1, 2], [3, 4, 5], 10);
    expect(d.xs).toEqual([0, 1, 2]);
    expect(d.ys).toEqual([3, 4, 5]);
  });

  it("bounds the point count and keeps the peak, the minimum and both ends", () => {
    const n = 100_000;
    const xs = Array.from({ length: n }, (_, i) => i);
    const ys = xs.map((i) => (i * 7919) % 1000);
    ys[61_234] = 5000; // the peak
    ys[77_777] = -3; // the trough
    const d = decimateMinMax(xs, ys, 200);
    expect(d.xs.length).toBeLessThanOrEqual(800);
    expect(d.xs).toContain(61_234);
    expect(Math.max(...d.ys)).toBe(5000);
    expect(Math.min(...d.ys)).toBe(-3);
    expect(d.xs[0]).toBe(0);
    expect(d.xs[d.xs.length - 1]).toBe(n - 1);
    // In order, no repeats: a step line through them draws left to right.
    for (let i = 1; i < d.xs.length; i++) expect(d.xs[i]!).toBeGreaterThan(d.xs[i - 1]!);
  });
});

describe("byte axis", () => {
  it("picks the binary unit by size", () => {
    expect(byteUnit(900)).toEqual({ div: 1, name: "B" });
    expect(byteUnit(3 * MiB)).toEqual({ div: MiB, name: "MiB" });
    expect(byteUnit(15_074_838_272)).toEqual({ div: GiB, name: "GiB" });
  });

  it("ticks at 1/2/5 steps in that unit, labelled with the unit", () => {
    const t = byteTicks(300 * MiB);
    expect(t.unit).toBe("MiB");
    expect(t.labels).toEqual(["0", "100 MiB", "200 MiB", "300 MiB"]);
    expect(t.values[1]).toBe(100 * MiB);
    const g = byteTicks(1.5 * GiB);
    expect(g.labels).toEqual(["0", "0.5 GiB", "1.0 GiB", "1.5 GiB"]);
  });

  it("tops the axis at a tick above the peak, with room for the marker", () => {
    const top = byteAxisMax(512 * MiB);
    expect(top).toBeGreaterThan(512 * MiB * 1.03);
    expect(byteTicks(top).values).toContain(top);
    expect(byteAxisMax(0)).toBe(1);
  });
});

describe("labelX", () => {
  it("puts the label right of the peak, or left when it would be cut off", () => {
    expect(labelX(100, 80, 50, 600)).toEqual({ x: 106, align: "left" });
    expect(labelX(580, 80, 50, 600)).toEqual({ x: 574, align: "right" });
    expect(labelX(60, 580, 50, 600)).toEqual({ x: 52, align: "left" });
  });
});
