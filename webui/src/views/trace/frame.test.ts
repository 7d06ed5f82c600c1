import { describe, expect, it } from "vitest";
import { timelineFromJson } from "../../api/timeline-decode";
import type { Track } from "../../api/wire";
import { computeLayout } from "../../render/timeline-layout";
import type { DrawStats } from "../../render/timeline-renderer";
import { dataAttrs, frameAttrs, writeAttrs, type Frame } from "./frame";
import { TraceViewport } from "./viewport";

const T = (id: number): Track => ({ id, host: "h", group: "device", name: `t${id}`, device: id, max_depth: 0, events: 1 });
// Host header 24 + Devices header 20, then 24 px per one-depth track: track i at content y 44 + 24 i.
const layout = computeLayout([0, 1, 2, 3, 4].map(T), new Set());
const stats = (selected: DrawStats["selected"]): DrawStats => ({
  slices: 42, rects: 40, labels: 3, selected, axis: { labels: ["0 ms", "10 ms"], caption: "time from start" },
});

function frame(selected: DrawStats["selected"] = null): Frame {
  const view = new TraceViewport();
  view.setBounds({ start_ns: 0, end_ns: 100 });
  view.resize(1220, 28 + 110); // rows 110 px high
  view.contentHeight = layout.totalHeight;
  view.setWindow({ t0_ns: 10.4, t1_ns: 59.6 });
  view.scrollTo(40);
  return {
    stats: stats(selected), drawMs: 1.234, view, layout, plan: { start_ns: 0, end_ns: 80 }, requests: { requests: 3, aborted: 1 },
    loaded: true, selectedId: selected ? 7 : null,
    steps: Array.from({ length: 70 }, (_, i) => ({ step: i, start_ns: 10 * i, dur_ns: 5 })),
  };
}

describe("the canvas' data-* attributes (the e2e contract)", () => {
  it("names every attribute the end-to-end tests read, in the order they were always written", () => {
    const a = Object.fromEntries(frameAttrs(frame({ x0: 12.345, x1: 20, y: 3 })));
    expect(frameAttrs(frame()).map(([k]) => k)).toEqual([
      "t0", "t1", "slices", "drawMs", "planStart", "planEnd", "requests", "aborted", "loaded",
      "selX0", "selX1", "selId", "areaWidth", "onScreenTracks", "stepBands", "tickLabels", "axisCaption",
    ]);
    expect(a).toMatchObject({
      t0: "10", t1: "60", slices: "42", drawMs: "1.23", planStart: "0", planEnd: "80", requests: "3", aborted: "1", loaded: "1",
      selX0: "12.3", selX1: "20.0", selId: "7", areaWidth: "1000", tickLabels: "0 ms|10 ms", axisCaption: "time from start",
    });
  });

  it("lists the tracks wholly on screen and at most 64 step bands", () => {
    const a = Object.fromEntries(frameAttrs(frame()));
    // Rows show content y 40..150: tracks at 44, 68, 92, 116 fit (116 + 24 = 140), 140 + 24 does not.
    expect(a.onScreenTracks).toBe("0,1,2,3");
    const bands = a.stepBands!.split(",");
    expect(bands).toHaveLength(64);
    expect(bands[1]).toBe("10:15");
  });

  it("removes the selection's attributes when no selected slice was drawn", () => {
    const ds: Record<string, string> = { selX0: "1", selX1: "2", selId: "3", t0: "old" };
    writeAttrs(ds as DOMStringMap, frameAttrs(frame()));
    expect(ds.selX0).toBeUndefined();
    expect(ds.selId).toBeUndefined();
    expect(ds.t0).toBe("10");
  });

  it("describes the response on screen", () => {
    const d = timelineFromJson({ version: 1, start_ns: 100, end_ns: 900, width: 1500, bucket_ns: 1, tracks: [], slices: [] });
    expect(dataAttrs(d)).toEqual([["reqStart", "100"], ["reqEnd", "900"], ["reqWidth", "1500"]]);
  });
});
