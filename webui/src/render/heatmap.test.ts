import { describe, expect, it } from "vitest";
import { cellAt, heatColor, heatmapGeometry, heatmapHeight, heatRange, heatT, labelEvery, shortHost, type HeatmapData } from "./heatmap";

const data = (values: (number | null)[][]): HeatmapData => ({
  rows: values.map((_, i) => `host-${i}`), cols: values[0]!.map((_, j) => j + 10), values, slowest: values[0]!.map(() => -1),
});

describe("heatmap colour scale", () => {
  it("runs pale (fastest) to dark (slowest), clamped, rgb strings", () => {
    expect(heatColor(0)).toBe("rgb(255,245,204)");
    expect(heatColor(1)).toBe("rgb(128,0,38)");
    expect(heatColor(-3)).toBe(heatColor(0));
    expect(heatColor(7)).toBe(heatColor(1));
    expect(heatColor(NaN)).toBe(heatColor(0));
    // Lightness falls monotonically along the scale (the order is readable without hue).
    const lum = (s: string) => s.match(/\d+/g)!.map(Number).reduce((a, b, i) => a + b * [0.299, 0.587, 0.114][i]!, 0);
    const ls = [0, 0.2, 0.4, 0.6, 0.8, 1].map((t) => lum(heatColor(t)));
    for (let i = 1; i < ls.length; i++) expect(ls[i]!).toBeLessThan(ls[i - 1]!);
  });

  it("takes its range from the values, ignoring missing cells, spanning at least 25 % of the fastest", () => {
    expect(heatRange([[10, null, 30], [20, 5, null]])).toEqual({ lo: 5, hi: 30 });
    // 4 % of jitter: the scale still spans 25 %, so the slowest cell stays in the pale part.
    const jitter = heatRange([[51e6, 53e6]]);
    expect(jitter).toEqual({ lo: 51e6, hi: 51e6 * 1.25 });
    expect(heatT(53e6, jitter)).toBeLessThan(0.2);
    const flat = heatRange([[7, 7], [7, null]]);
    expect(flat.lo).toBe(7);
    expect(flat.hi).toBeGreaterThan(7);
    expect(heatT(7, flat)).toBe(0);
    expect(heatRange([[null]])).toEqual({ lo: 0, hi: 1 });
    expect(heatT(17.5, { lo: 5, hi: 30 })).toBeCloseTo(0.5);
  });
});

describe("heatmap layout", () => {
  it("fills the width after the gutter and hit-tests cells", () => {
    const d = data([[1, 2, 3, 4], [5, 6, 7, 8]]);
    const g = heatmapGeometry(d, 508, 100);
    expect(g.cellW).toBeCloseTo(100);
    expect(g.plotW).toBeCloseTo(400);
    expect(g.plotH).toBe(2 * g.cellH);
    expect(heatmapHeight(g)).toBeGreaterThan(g.plotH);
    expect(cellAt(d, g, 100, g.top)).toEqual({ row: 0, col: 0 });
    expect(cellAt(d, g, 100 + 250, g.top + g.cellH + 1)).toEqual({ row: 1, col: 2 });
    expect(cellAt(d, g, 99, g.top + 1)).toBeNull();
    expect(cellAt(d, g, 100 + 401, g.top + 1)).toBeNull();
    expect(cellAt(d, g, 150, g.top + g.plotH + 1)).toBeNull();
  });

  it("keeps cells at least minCell wide (the canvas scrolls) and thins the step labels", () => {
    const d = data([Array.from({ length: 1000 }, (_, i) => i)]);
    const g = heatmapGeometry(d, 600, 100, 6);
    expect(g.cellW).toBe(6);
    expect(g.plotW).toBe(6000);
    expect(labelEvery(6)).toBe(6);
    expect(labelEvery(100)).toBe(1);
  });

  it("shortens host names from the front, keeping the distinguishing end", () => {
    expect(shortHost("worker-0", 20)).toBe("worker-0");
    expect(shortHost("gke-tpu-pool-abc-worker-17", 10)).toBe("…worker-17");
    expect(shortHost("gke-tpu-pool-abc-worker-17", 10).length).toBe(10);
  });
});
