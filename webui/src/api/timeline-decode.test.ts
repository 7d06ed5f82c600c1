import { describe, expect, it } from "vitest";
import { columnsBase, decodeTimeline, shownCounts, timelineFromJson, WireFormatError } from "./timeline-decode";

// Build a binary timeline response exactly as docs/api.md describes it:
// "XDTL", u32 version, u32 header length H, H bytes of JSON, zero padding to a
// multiple of 8, then the columns at header offsets (relative to the end of the
// padded header), little-endian.
interface Slice { start: number; dur: number; id: number; name: number; track: number; depth: number }

function buildTimeline(
  slices: Slice[],
  opts: { strings?: string[]; version?: number; magic?: string; headerPad?: string; drop?: string; extra?: boolean; tracks?: unknown[] } = {},
): ArrayBuffer {
  const n = slices.length;
  const specs: [string, string, number][] = [
    ["start_ns", "float64", 8], ["dur_ns", "float64", 8], ["id", "uint32", 4],
    ["name", "uint32", 4], ["track", "uint32", 4], ["depth", "uint16", 2],
  ];
  if (opts.extra) specs.push(["future", "uint32", 4]);
  let off = 0;
  const columns = specs.filter(([name]) => name !== opts.drop).map(([name, dtype, size]) => {
    const c = { name, dtype, offset: off, length: n };
    off += Math.ceil((n * size) / 8) * 8; // each column padded to 8 bytes
    return c;
  });
  const header = {
    version: opts.version ?? 1, start_ns: 0, end_ns: 1000, width: 100, bucket_ns: 5, count: n,
    strings: opts.strings ?? ["a", "b", "c"], tracks: opts.tracks ?? [{ id: 0, in_window: n + 10, returned: n }],
    columns, pad: opts.headerPad ?? "",
  };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const base = Math.ceil((12 + json.length) / 8) * 8;
  const buf = new ArrayBuffer(base + off);
  const u8 = new Uint8Array(buf);
  const dv = new DataView(buf);
  const magic = opts.magic ?? "XDTL";
  for (let i = 0; i < 4; i++) u8[i] = magic.charCodeAt(i);
  dv.setUint32(4, opts.version ?? 1, true);
  dv.setUint32(8, json.length, true);
  u8.set(json, 12);
  for (const c of columns) {
    const p = base + c.offset;
    slices.forEach((s, i) => {
      switch (c.name) {
        case "start_ns": dv.setFloat64(p + i * 8, s.start, true); break;
        case "dur_ns": dv.setFloat64(p + i * 8, s.dur, true); break;
        case "id": dv.setUint32(p + i * 4, s.id, true); break;
        case "name": dv.setUint32(p + i * 4, s.name, true); break;
        case "track": dv.setUint32(p + i * 4, s.track, true); break;
        case "depth": dv.setUint16(p + i * 2, s.depth, true); break;
        case "future": dv.setUint32(p + i * 4, 7, true); break;
      }
    });
  }
  return buf;
}

const SLICES: Slice[] = [
  { start: 10.5, dur: 100, id: 7, name: 0, track: 0, depth: 0 },
  { start: 20, dur: 5.25, id: 8, name: 2, track: 0, depth: 1 },
  { start: 1e12 + 3, dur: 1, id: 4_000_000_000, name: 1, track: 3, depth: 65535 },
];

describe("decodeTimeline", () => {
  it("decodes every column of a v1 response", () => {
    const d = decodeTimeline(buildTimeline(SLICES));
    expect(d.count).toBe(3);
    expect(d.bucket_ns).toBe(5);
    expect(Array.from(d.start)).toEqual([10.5, 20, 1e12 + 3]);
    expect(Array.from(d.dur)).toEqual([100, 5.25, 1]);
    expect(Array.from(d.id)).toEqual([7, 8, 4_000_000_000]);
    expect(Array.from(d.track)).toEqual([0, 0, 3]);
    expect(Array.from(d.depth)).toEqual([0, 1, 65535]);
    expect(Array.from(d.name).map((k) => d.strings[k])).toEqual(["a", "c", "b"]);
    expect(d.tracks).toEqual([{ id: 0, in_window: 13, returned: 3 }]);
  });

  it("handles every header length modulo 8 (padding)", () => {
    for (let pad = 0; pad < 8; pad++) {
      const d = decodeTimeline(buildTimeline(SLICES, { headerPad: "x".repeat(pad) }));
      expect(Array.from(d.dur)).toEqual([100, 5.25, 1]);
    }
  });

  it("columns start at the header end rounded up to 8", () => {
    expect(columnsBase(4)).toBe(16);
    expect(columnsBase(12)).toBe(24);
    expect(columnsBase(13)).toBe(32);
  });

  it("decodes an empty window", () => {
    const d = decodeTimeline(buildTimeline([]));
    expect(d.count).toBe(0);
    expect(d.start.length).toBe(0);
  });

  it("ignores unknown extra columns", () => {
    expect(decodeTimeline(buildTimeline(SLICES, { extra: true })).count).toBe(3);
  });

  it("rejects a bad magic, a newer version, a missing column, a bad string index and truncation", () => {
    expect(() => decodeTimeline(buildTimeline(SLICES, { magic: "XDTX" }))).toThrow(/magic/);
    expect(() => decodeTimeline(buildTimeline(SLICES, { version: 2 }))).toThrow(/wire version 2/);
    expect(() => decodeTimeline(buildTimeline(SLICES, { drop: "depth" }))).toThrow(/depth is missing/);
    expect(() => decodeTimeline(buildTimeline(SLICES, { strings: ["a"] }))).toThrow(/string table/);
    const buf = buildTimeline(SLICES);
    expect(() => decodeTimeline(buf.slice(0, buf.byteLength - 8))).toThrow(WireFormatError);
    expect(() => decodeTimeline(new ArrayBuffer(5))).toThrow(WireFormatError);
  });

  it("shows n of m from the per-track counts", () => {
    const d = decodeTimeline(buildTimeline(SLICES, { tracks: [{ id: 0, in_window: 50, returned: 2 }, { id: 3, in_window: 1, returned: 1 }] }));
    expect(shownCounts(d)).toEqual({ returned: 3, inWindow: 51 });
  });
});

describe("timelineFromJson", () => {
  it("gives the same model as the binary format, with interned names", () => {
    const d = timelineFromJson({
      version: 1, start_ns: 0, end_ns: 1000, width: 100, bucket_ns: 5,
      tracks: [{ id: 0, in_window: 2, returned: 2 }],
      slices: [
        { id: 1, name: "fusion", track: 0, depth: 0, start_ns: 1, dur_ns: 2 },
        { id: 2, name: "fusion", track: 0, depth: 1, start_ns: 1.5, dur_ns: 1 },
        { id: 3, name: "dot", track: 2, depth: 0, start_ns: 9, dur_ns: 1 },
      ],
    });
    expect(d.count).toBe(3);
    expect(d.strings).toEqual(["fusion", "dot"]);
    expect(Array.from(d.name)).toEqual([0, 0, 1]);
    expect(Array.from(d.depth)).toEqual([0, 1, 0]);
    expect(Array.from(d.start)).toEqual([1, 1.5, 9]);
  });
});
