import { describe, expect, it } from "vitest";
import type { Track } from "../api/wire";
import { computeLayout, defaultCollapsed, depthAt, groupKey, hostKey, HOST_H, GROUP_H, itemAt, keysToReveal, ROW_H, TRACK_PAD, trackKey, visibleTrackIds } from "./timeline-layout";

const T = (id: number, host: string, group: Track["group"], max_depth: number): Track => ({ id, host, group, name: `t${id}`, device: group === "device" ? id : null, max_depth, events: 10 });
const TRACKS = [T(0, "h0", "host", 0), T(1, "h0", "device", 2), T(2, "h0", "device", 0), T(3, "h0", "thread", 1), T(4, "h1", "device", 0)];

describe("timeline layout", () => {
  it("groups host -> host tracks, Devices, Threads with depth rows", () => {
    const l = computeLayout(TRACKS, new Set());
    expect(l.items.map((i) => `${i.kind}:${i.label}`)).toEqual([
      "host:h0", "track:t0", "group:Devices (2)", "track:t1", "track:t2", "group:Threads (1)", "track:t3", "host:h1", "group:Devices (1)", "track:t4",
    ]);
    const t1 = l.tracks.get(1)!;
    expect(t1.rows).toBe(3);
    expect(t1.h).toBe(3 * ROW_H + 2 * TRACK_PAD);
    expect(t1.y).toBe(HOST_H + (ROW_H + 2 * TRACK_PAD) + GROUP_H);
    expect(l.totalHeight).toBe(l.items.at(-1)!.y + l.items.at(-1)!.h);
    expect(visibleTrackIds(l)).toEqual([0, 1, 2, 3, 4]);
  });

  it("collapsing a host, a group or a track hides rows", () => {
    const l = computeLayout(TRACKS, new Set([hostKey("h1"), groupKey("h0", "thread"), trackKey(1)]));
    expect(l.tracks.get(1)!.rows).toBe(1);
    expect(l.tracks.has(3)).toBe(false);
    expect(l.tracks.has(4)).toBe(false);
    expect(visibleTrackIds(l)).toEqual([0, 1, 2]);
    expect(keysToReveal(TRACKS[3]!)).toEqual([hostKey("h0"), groupKey("h0", "thread")]);
  });

  it("hit-tests rows and depths", () => {
    const l = computeLayout(TRACKS, new Set());
    const t1 = l.tracks.get(1)!;
    expect(itemAt(l, t1.y + 1)).toBe(t1);
    expect(depthAt(t1, t1.y + TRACK_PAD + ROW_H * 1.5)).toBe(1);
    expect(depthAt(t1, t1.y + 1)).toBe(-1);
    expect(itemAt(l, -5)).toBeNull();
    expect(itemAt(l, l.totalHeight + 1)).toBeNull();
  });

  it("collapses big thread groups next to devices by default", () => {
    const many = [T(0, "h", "device", 0), ...Array.from({ length: 9 }, (_, i) => T(i + 1, "h", "thread", 0))];
    expect(defaultCollapsed(many)).toEqual(new Set([groupKey("h", "thread")]));
    expect(defaultCollapsed(TRACKS).size).toBe(0);
  });
});
