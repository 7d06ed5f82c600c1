import { describe, expect, it } from "vitest";
import { timelineFromJson } from "../api/timeline-decode";
import type { Track } from "../api/wire";
import { contentToScreen } from "../lib/transform";
import { itemAtScreen, regionAt, sliceAt, stepAt } from "./timeline-hit";
import { TimelineIndex } from "./timeline-index";
import { computeLayout } from "./timeline-layout";

// The geometry as webui/e2e-notes.md states it, not as the code computes it: 220 px of
// track names, a 28 px axis, a 24 px host header, a 20 px "Devices" header, then each
// track 3 px padding + 18 px per depth (+ 3 px). So track 1 (two depths) spans content
// y 44..86 and track 2 86..110; on screen (no scroll) track 1's depth 0 is y 75..93,
// its depth 1 93..111, track 2's depth 0 117..135.
const T = (id: number, max_depth: number): Track => ({ id, host: "h0", group: "device", name: `t${id}`, device: id, max_depth, events: 2 });
const layout = computeLayout([T(1, 1), T(2, 0)], new Set());
const S = (id: number, track: number, depth: number, start_ns: number, dur_ns: number) => ({ id, name: `n${id}`, track, depth, start_ns, dur_ns });
const index = new TimelineIndex(timelineFromJson({
  version: 1, start_ns: 0, end_ns: 10_000, width: 1000, bucket_ns: 5, tracks: [],
  slices: [S(10, 1, 0, 1000, 500), S(11, 1, 1, 1200, 100), S(20, 2, 0, 2000, 0.5), S(21, 2, 0, 2900, 100)],
}));
// [1000, 3000] ns across 1000 px: screen x = 220 + (t_ns - 1000) / 2.
const vp = { window: { t0_ns: 1000, t1_ns: 3000 }, width_px: 1000 };
const screen = (scrollY = 0) => contentToScreen(vp, { left_px: 220, top_px: 28, scrollY });
const idAt = (x: number, y: number, scrollY = 0) => {
  const i = sliceAt(layout, index, screen(scrollY), { x, y });
  return i < 0 ? null : index.data.id[i];
};

describe("hit-testing a screen point", () => {
  it("finds the slice under the pointer by track, depth and time", () => {
    expect(idAt(320, 84)).toBe(10); // t = 1200, track 1 depth 0
    expect(idAt(320, 100)).toBe(11); // depth 1
    expect(idAt(320, 94)).toBe(11); // just inside depth 1
    expect(idAt(1170, 120)).toBe(21); // t = 2900, track 2
    expect(idAt(500, 100)).toBeNull(); // t = 1560: depth 1 is empty there
  });

  it("picks a sub-pixel slice within 3 px, not further", () => {
    expect(idAt(720, 126)).toBe(20); // t = 2000
    expect(idAt(722.5, 126)).toBe(20); // 2.5 px right
    expect(idAt(725, 126)).toBeNull(); // 5 px right
  });

  it("misses the padding, the headers, the names and the axis", () => {
    expect(idAt(320, 73)).toBeNull(); // track 1's top padding
    expect(idAt(320, 60)).toBeNull(); // the Devices header
    expect(idAt(100, 84)).toBeNull(); // track names
    expect(idAt(320, 10)).toBeNull(); // axis
    expect(sliceAt(layout, null, screen(), { x: 320, y: 84 })).toBe(-1); // no data yet
  });

  it("follows the scroll: content y = screen y - 28 + scrollY", () => {
    expect(idAt(320, 84 - 40, 40)).toBe(10);
    expect(idAt(320, 58, 40)).toBe(11); // content y 70: depth 1
    expect(idAt(1170, 84, 40)).toBe(21); // content y 96: track 2
    expect(itemAtScreen(layout, screen(), 28 + 30)?.label).toBe("Devices (2)");
    expect(itemAtScreen(layout, screen(24), 28 + 6)?.label).toBe("Devices (2)");
    expect(itemAtScreen(layout, screen(), 28 + 500)).toBeNull();
  });

  it("names the regions of the canvas", () => {
    expect(regionAt({ x: 100, y: 10 })).toBe("caption");
    expect(regionAt({ x: 220, y: 27.5 })).toBe("axis");
    expect(regionAt({ x: 219.5, y: 28 })).toBe("gutter");
    expect(regionAt({ x: 220, y: 28 })).toBe("slices");
  });

  it("finds the step whose span holds a time, ends included", () => {
    const steps = [{ step: 1, start_ns: 100, dur_ns: 50 }, { step: 2, start_ns: 200, dur_ns: 50 }];
    expect(stepAt(steps, 150)?.step).toBe(1);
    expect(stepAt(steps, 200)?.step).toBe(2);
    expect(stepAt(steps, 175)).toBeUndefined();
  });
});
