import { describe, expect, it } from "vitest";
import { columnsBase, decodeTimeline, shownCounts, timelineFromJson, WireFormatError } from "./timeline-decode";

// Build a binary timeline response exactly as docs/api.md describes it:
// "XDTL", u32 version, u32 header length H, H bytes of JSON, zero padding to a
// multiple of 8, then the columns at header offsets (relative to the end of the
// padded header), little-endian; starts are ns after the header's origin_ns.
interface Slice { start: number; dur: number; id: number; name: number; track: number; depth: number }
type Dtype = "float64" | "uint32" | "uint16" | "uint8";
const SIZE: Record<Dtype, number> = { float64: 8, uint32: 4, uint16: 2, uint8: 1 };
const WIDE: Record<string, Dtype> = {
  start_ns: "float64", dur_ns: "float64", id: "uint32", name: "uint32", track: "uint32", depth: "uint16",
};
const NARROW: Record<string, Dtype> = {
  start_ns: "uint32", dur_ns: "uint32", id: "uint32", name: "uint16", track: "uint16", depth: "uint8",
};

function put(dv: DataView, p: number, dtype: Dtype, v: number): void {
  if (dtype === "float64") dv.setFloat64(p, v, true);
  else if (dtype === "uint32") dv.setUint32(p, v, true);
  else if (dtype === "uint16") dv.setUint16(p, v, true);
  else dv.setUint8(p, v);
}

function buildTimeline(
  slices: Slice[],
  opts: {
    strings?: string[]; version?: number; magic?: string; headerPad?: string; drop?: string; extra?: boolean;
    tracks?: unknown[]; dtypes?: Record<string, Dtype>; origin?: number;
  } = {},
): ArrayBuffer {
  const n = slices.length;
  const dtypes = opts.dtypes ?? WIDE;
  const origin = opts.origin ?? (n ? Math.min(...slices.map((s) => s.start)) : 0);
  const specs: [string, Dtype][] = Object.keys(WIDE).map((name) => [name, dtypes[name]!]);
  if (opts.extra) specs.push(["future", "uint32"]);
  let off = 0;
  const columns = specs.filter(([name]) => name !== opts.drop).map(([name, dtype]) => {
    const c = { name, dtype, offset: off, length: n };
    off += Math.ceil((n * SIZE[dtype]) / 8) * 8; // each column padded to 8 bytes
    return c;
  });
  const header = {
    version: opts.version ?? 2, start_ns: 0, end_ns: 1000, width: 100, bucket_ns: 5, count: n, origin_ns: origin,
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
  dv.setUint32(4, opts.version ?? 2, true);
  dv.setUint32(8, json.length, true);
  u8.set(json, 12);
  for (const c of columns) {
    const p = base + c.offset;
    const size = SIZE[c.dtype];
    slices.forEach((s, i) => {
      const v: Record<string, number> = {
        start_ns: s.start - origin, dur_ns: s.dur, id: s.id, name: s.name, track: s.track, depth: s.depth, future: 7,
      };
      put(dv, p + i * size, c.dtype, v[c.name]!);
    });
  }
  return buf;
}

const SLICES: Slice[] = [
  { start: 10.5, dur: 100, id: 7, name: 0, track: 0, depth: 0 },
  { start: 20, dur: 5.25, id: 8, name: 2, track: 0, depth: 1 },
  { start: 1e12 + 3, dur: 1, id: 4_000_000_000, name: 1, track: 3, depth: 65535 },
];

// What the service sends for most windows: integer ns in uint32 after the origin.
const NARROW_SLICES: Slice[] = [
  { start: 5_000_000_123, dur: 4_000_000_000, id: 7, name: 0, track: 0, depth: 0 },
  { start: 5_000_000_124, dur: 17, id: 8, name: 2, track: 65535, depth: 255 },
  { start: 9_294_967_295, dur: 0, id: 9, name: 1, track: 3, depth: 1 },
];

describe("decodeTimeline", () => {
  it("widens narrow columns into the one model, starts made absolute", () => {
    const d = decodeTimeline(buildTimeline(NARROW_SLICES, { dtypes: NARROW }));
    expect(Array.from(d.start)).toEqual([5_000_000_123, 5_000_000_124, 9_294_967_295]);
    expect(Array.from(d.dur)).toEqual([4_000_000_000, 17, 0]);
    expect(Array.from(d.track)).toEqual([0, 65535, 3]);
    expect(Array.from(d.depth)).toEqual([0, 255, 1]);
    expect(Array.from(d.name).map((k) => d.strings[k])).toEqual(["a", "c", "b"]);
    expect(d.start).toBeInstanceOf(Float64Array);
    expect(d.track).toBeInstanceOf(Uint32Array);
    expect(d.depth).toBeInstanceOf(Uint16Array);
  });

  it("rejects a column of a type its name does not allow", () => {
    expect(() => decodeTimeline(buildTimeline(SLICES, { dtypes: { ...WIDE, id: "uint16" } }))).toThrow(
      /column id is uint16, expected one of uint32/,
    );
  });

  it("decodes every column of a response with its widest types", () => {
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
    expect(() => decodeTimeline(buildTimeline(SLICES, { version: 3 }))).toThrow(/wire version 3/);
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
