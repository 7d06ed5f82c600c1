import { describe, expect, it } from "vitest";
import { timelineFromJson } from "../api/timeline-decode";
import { TimelineIndex } from "./timeline-index";

const S = (id: number, track: number, depth: number, start_ns: number, dur_ns: number) => ({ id, name: `n${id}`, track, depth, start_ns, dur_ns });
const data = timelineFromJson({
  version: 1, start_ns: 0, end_ns: 1000, width: 10, bucket_ns: 50, tracks: [],
  // Deliberately out of order within a row.
  slices: [S(1, 0, 0, 500, 100), S(2, 0, 0, 0, 400), S(3, 0, 1, 10, 5), S(4, 5, 0, 900, 0.5), S(5, 0, 0, 700, 1)],
});

describe("TimelineIndex", () => {
  const ix = new TimelineIndex(data);

  it("sorts each row by start and finds the first visible slice", () => {
    const row = ix.row(0, 0)!;
    expect(Array.from(row.starts)).toEqual([0, 500, 700]);
    expect(row.maxDur).toBe(400);
    // A long slice that began before t0 is still visited.
    expect(ix.firstVisible(row, 300)).toBe(0);
    expect(ix.row(9, 0)).toBeUndefined();
  });

  it("hit-tests inside a slice and near a sub-pixel one", () => {
    expect(data.id[ix.hitTest(0, 0, 550, 1)]).toBe(1);
    expect(data.id[ix.hitTest(0, 0, 200, 1)]).toBe(2);
    expect(ix.hitTest(0, 0, 450, 1)).toBe(-1);
    expect(data.id[ix.hitTest(5, 0, 902, 3)]).toBe(4);
    expect(data.id[ix.hitTest(0, 1, 12, 0)]).toBe(3);
  });

  it("looks up event ids", () => {
    expect(ix.indexOfId(5)).toBe(4);
    expect(ix.indexOfId(99)).toBe(-1);
    expect(ix.name(0)).toBe("n1");
  });
});

describe("TimelineIndex on server-ordered data", () => {
  // Ordered by (track, depth, start): rows are used in place, no copies.
  const sorted = timelineFromJson({
    version: 1, start_ns: 0, end_ns: 1000, width: 10, bucket_ns: 50, tracks: [],
    slices: [S(1, 0, 0, 0, 400), S(2, 0, 0, 500, 100), S(3, 0, 1, 10, 5), S(4, 2, 0, 5, 1), S(5, 2, 0, 900, 50)],
  });
  const ix = new TimelineIndex(sorted);

  it("uses contiguous rows and finds the same slices", () => {
    const row = ix.row(0, 0)!;
    expect(row.order).toBeNull();
    expect(Array.from(row.starts)).toEqual([0, 500]);
    expect(ix.row(2, 0)!.base).toBe(3);
    expect(sorted.id[ix.hitTest(2, 0, 920, 1)]).toBe(5);
    expect(sorted.id[ix.hitTest(0, 1, 12, 0)]).toBe(3);
    expect(ix.indexOfId(4)).toBe(3);
  });
});
