import { describe, expect, it } from "vitest";
import { timelineFromJson } from "../../api/timeline-decode";
import type { Track } from "../../api/wire";
import { TimelineIndex } from "../../render/timeline-index";
import { computeLayout } from "../../render/timeline-layout";
import { tipLeft, tipLines } from "./inspector";

const tracks: Track[] = [
  { id: 1, host: "h0", group: "device", name: "XLA ops · device 0", device: 0, max_depth: 1, events: 2 },
  { id: 2, host: "h0", group: "device", name: "Stream #14", device: 0, max_depth: 0, events: 1, lanes: true },
];
const index = new TimelineIndex(timelineFromJson({
  version: 1, start_ns: 0, end_ns: 10_000_000, width: 100, bucket_ns: 1, tracks: [],
  slices: [
    { id: 1, name: "fusion.3", track: 1, depth: 1, start_ns: 2_500_000, dur_ns: 1500 },
    { id: 2, name: "kernel", track: 2, depth: 0, start_ns: 0, dur_ns: 1_000_000 },
    { id: 3, name: "gone", track: 9, depth: 0, start_ns: 0, dur_ns: 1 },
  ],
}));
const layout = computeLayout(tracks, new Set());
const at = (id: number) => index.indexOfId(id);

describe("hover tooltip", () => {
  it("names the slice, its duration and start, and where it is drawn (row or lane, from 1)", () => {
    // Digits are grouped with a narrow no-break space (U+202F).
    expect(tipLines(index, at(1), layout)).toEqual({ name: "fusion.3", time: "1.500 µs at 2.500\u202f000 ms", where: "h0 · XLA ops · device 0 · row 2" });
    expect(tipLines(index, at(2), layout).where).toBe("h0 · Stream #14 · lane 1");
    expect(tipLines(index, at(3), layout).where).toBeNull(); // a track no longer laid out
  });

  it("sits right of the pointer, and flips left where it would leave the canvas", () => {
    expect(tipLeft(100, 200, 1000)).toBe(114);
    expect(tipLeft(900, 200, 1000)).toBe(690);
    expect(tipLeft(150, 400, 500)).toBe(0);
  });
});
