import { afterEach, describe, expect, it } from "vitest";
import { RepaintMarks } from "./repaint-marks";

const count = (name: string) => performance.getEntriesByName(name).length;

afterEach(() => {
  performance.clearMarks();
  performance.clearMeasures();
});

describe("repaint marks", () => {
  it("measures a fetched window from its bytes to its first drawn frame, and its parts", () => {
    const m = new RepaintMarks();
    m.bytesIn();
    m.dataReady();
    m.indexed(performance.now());
    const t0 = performance.now();
    m.drawn(t0, 2, true);
    expect([count("xdiag-decode"), count("xdiag-index"), count("xdiag-draw"), count("xdiag-repaint")]).toEqual([1, 1, 1, 1]);
    expect(performance.getEntriesByName("xdiag-draw")[0]!.duration).toBeCloseTo(2, 6);
    m.drawn(performance.now(), 1, true); // later frames of the same data are not repaints
    expect(count("xdiag-repaint")).toBe(1);
  });

  it("a cache hit has no decode; a frame without data does not end the measure", () => {
    const m = new RepaintMarks();
    m.dataReady();
    m.drawn(performance.now(), 1, true);
    expect([count("xdiag-decode"), count("xdiag-repaint")]).toEqual([0, 1]);
    m.dataReady();
    m.drawn(performance.now(), 1, false);
    expect(count("xdiag-repaint")).toBe(1);
    m.drawn(performance.now(), 1, true);
    expect(count("xdiag-repaint")).toBe(2);
  });
});
