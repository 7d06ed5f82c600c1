import { describe, expect, it } from "vitest";
import type { Track } from "../../api/wire";
import { groupKey, hostKey } from "../../render/timeline-layout";
import { TrackRows } from "./track-rows";

const T = (id: number, host: string, group: Track["group"]): Track => ({ id, host, group, name: `t${id}`, device: null, max_depth: 1, events: 1 });
// One device and nine threads on h0: the threads start collapsed; h1 has one device.
const TRACKS = [T(0, "h0", "device"), ...Array.from({ length: 9 }, (_, i) => T(i + 1, "h0", "thread")), T(20, "h1", "device")];

describe("TrackRows", () => {
  it("starts with big thread groups collapsed and finds tracks by id", () => {
    const r = new TrackRows(TRACKS);
    expect([...r.layout.tracks.keys()]).toEqual([0, 20]);
    expect(r.track(5)?.name).toBe("t5");
    expect(r.track(99)).toBeUndefined();
  });

  it("toggles a header, and reveals a hidden track by expanding its host and group", () => {
    const r = new TrackRows(TRACKS);
    r.toggle(hostKey("h1"));
    expect(r.layout.tracks.has(20)).toBe(false);
    const h = r.layout.totalHeight;
    expect(r.reveal(3)).toBe(true); // the Threads group opens
    expect(r.layout.tracks.has(3)).toBe(true);
    expect(r.layout.totalHeight).toBeGreaterThan(h);
    expect(r.reveal(3)).toBe(false); // already shown
    expect(r.reveal(20)).toBe(true);
    r.toggle(groupKey("h0", "thread"));
    expect(r.layout.tracks.has(3)).toBe(false);
  });

  it("finds the track a deep link names: the device on the host, else its first device track", () => {
    const dev = (id: number, host: string, d: number): Track => ({ ...T(id, host, "device"), device: d });
    const r = new TrackRows([T(1, "h0", "thread"), dev(2, "h0", 0), dev(3, "h0", 5), T(4, "h1", "thread")]);
    expect(r.find("h0", 5)?.id).toBe(3);
    expect(r.find("h0", 9)?.id).toBe(2);
    expect(r.find("h0")?.id).toBe(2);
    expect(r.find("h1")?.id).toBe(4);
    expect(r.find("nope")).toBeUndefined();
  });
});
