// Decoding of the timeline response (docs/api.md, "Timeline") into one
// columnar model. Both the binary format and `&format=json` end up as
// `TimelineData`; nothing after this module sees a raw response.

import {
  TIMELINE_COLUMNS,
  TIMELINE_MAGIC,
  TIMELINE_WIRE_VERSION,
  type ColumnDtype,
  type TimelineHeader,
  type TimelineJson,
  type TimelineTrackCount,
} from "./wire";

/** Columnar slices of one timeline window. All columns have length `count`. */
export interface TimelineData {
  start_ns: number;
  end_ns: number;
  width: number;
  bucket_ns: number;
  count: number;
  strings: string[];
  tracks: TimelineTrackCount[];
  start: Float64Array;
  dur: Float64Array;
  id: Uint32Array;
  name: Uint32Array;
  track: Uint32Array;
  depth: Uint16Array;
  /** Size of the response on the wire, for the status line. */
  wireBytes: number;
}

export class WireFormatError extends Error {
  constructor(message: string) {
    super(`timeline response: ${message}`);
    this.name = "WireFormatError";
  }
}

const PREAMBLE_BYTES = 12;
const BYTES: Record<ColumnDtype, number> = { float64: 8, uint32: 4, uint16: 2, uint8: 1 };
const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
}

/** Byte position where the columns start, given the header length H. */
export function columnsBase(headerLength: number): number {
  return align8(PREAMBLE_BYTES + headerLength);
}

type Column = Float64Array | Uint32Array | Uint16Array | Uint8Array;

function readColumn(buf: ArrayBuffer, view: DataView, pos: number, n: number, dtype: ColumnDtype): Column {
  const size = BYTES[dtype];
  if (pos % size === 0 && LITTLE_ENDIAN_HOST) {
    if (dtype === "float64") return new Float64Array(buf, pos, n);
    if (dtype === "uint32") return new Uint32Array(buf, pos, n);
    if (dtype === "uint16") return new Uint16Array(buf, pos, n);
    return new Uint8Array(buf, pos, n);
  }
  // Unaligned or big-endian host: copy element by element through a DataView.
  if (dtype === "float64") {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getFloat64(pos + i * 8, true);
    return out;
  }
  if (dtype === "uint32") {
    const out = new Uint32Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getUint32(pos + i * 4, true);
    return out;
  }
  if (dtype === "uint16") {
    const out = new Uint16Array(n);
    for (let i = 0; i < n; i++) out[i] = view.getUint16(pos + i * 2, true);
    return out;
  }
  return new Uint8Array(buf, pos, n); // bytes have no order or alignment
}

/** Starts: the column holds ns after `origin`; the model holds absolute ns. */
function absolute(col: Column, origin: number): Float64Array {
  const out = new Float64Array(col); // a native conversion, and a copy: the model owns it
  for (let i = 0; i < out.length; i++) out[i] += origin;
  return out;
}

/** Decode a binary `application/x-xdiag-timeline` response. */
export function decodeTimeline(buf: ArrayBuffer): TimelineData {
  if (buf.byteLength < PREAMBLE_BYTES) throw new WireFormatError(`only ${buf.byteLength} bytes`);
  const bytes = new Uint8Array(buf);
  const magic = String.fromCharCode(bytes[0]!, bytes[1]!, bytes[2]!, bytes[3]!);
  if (magic !== TIMELINE_MAGIC) throw new WireFormatError(`bad magic ${JSON.stringify(magic)}`);
  const view = new DataView(buf);
  const version = view.getUint32(4, true);
  if (version !== TIMELINE_WIRE_VERSION) {
    throw new WireFormatError(
      `wire version ${version}, this viewer reads ${TIMELINE_WIRE_VERSION}: reload the page or update xdiag`,
    );
  }
  const headerLength = view.getUint32(8, true);
  if (PREAMBLE_BYTES + headerLength > buf.byteLength) throw new WireFormatError("header runs past the end");
  let header: TimelineHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(PREAMBLE_BYTES, PREAMBLE_BYTES + headerLength)));
  } catch (e) {
    throw new WireFormatError(`header is not JSON (${(e as Error).message})`);
  }
  if (header.version !== undefined && header.version !== version) {
    throw new WireFormatError(`header version ${header.version} differs from preamble ${version}`);
  }
  const n = header.count;
  if (!Number.isInteger(n) || n < 0) throw new WireFormatError(`bad count ${n}`);
  const base = columnsBase(headerLength);
  if (n > 0 && !Number.isFinite(header.origin_ns)) throw new WireFormatError(`bad origin_ns ${header.origin_ns}`);
  const cols: Record<string, Column> = {};
  for (const spec of header.columns ?? []) {
    const allowed = TIMELINE_COLUMNS[spec.name];
    if (allowed === undefined) continue; // unknown extra column: ignore (forward compatible)
    if (!allowed.includes(spec.dtype)) {
      throw new WireFormatError(`column ${spec.name} is ${spec.dtype}, expected one of ${allowed.join(", ")}`);
    }
    if (spec.length !== n) throw new WireFormatError(`column ${spec.name} has ${spec.length} values, count is ${n}`);
    const pos = base + spec.offset;
    if (pos + n * BYTES[spec.dtype] > buf.byteLength) throw new WireFormatError(`column ${spec.name} runs past the end`);
    cols[spec.name] = readColumn(buf, view, pos, n, spec.dtype);
  }
  for (const name of Object.keys(TIMELINE_COLUMNS)) {
    if (!(name in cols)) throw new WireFormatError(`column ${name} is missing`);
  }
  const strings = header.strings ?? [];
  // One model whatever the wire's types: absolute float64 times, wide integers.
  const nameCol = cols.name instanceof Uint32Array ? cols.name : new Uint32Array(cols.name!);
  for (let i = 0; i < n; i++) {
    if (nameCol[i]! >= strings.length) throw new WireFormatError(`name index ${nameCol[i]} outside the string table`);
  }
  return {
    start_ns: header.start_ns,
    end_ns: header.end_ns,
    width: header.width,
    bucket_ns: header.bucket_ns,
    count: n,
    strings,
    tracks: header.tracks ?? [],
    start: absolute(cols.start_ns!, n > 0 ? header.origin_ns : 0),
    dur: cols.dur_ns instanceof Float64Array ? cols.dur_ns : new Float64Array(cols.dur_ns!),
    id: cols.id as Uint32Array,
    name: nameCol,
    track: cols.track instanceof Uint32Array ? cols.track : new Uint32Array(cols.track!),
    depth: cols.depth instanceof Uint16Array ? cols.depth : new Uint16Array(cols.depth!),
    wireBytes: buf.byteLength,
  };
}

/** Turn the `&format=json` variant into the same columnar model. */
export function timelineFromJson(json: TimelineJson, wireBytes = 0): TimelineData {
  const n = json.slices.length;
  const strings: string[] = [];
  const interned = new Map<string, number>();
  const data: TimelineData = {
    start_ns: json.start_ns,
    end_ns: json.end_ns,
    width: json.width,
    bucket_ns: json.bucket_ns,
    count: n,
    strings,
    tracks: json.tracks,
    start: new Float64Array(n),
    dur: new Float64Array(n),
    id: new Uint32Array(n),
    name: new Uint32Array(n),
    track: new Uint32Array(n),
    depth: new Uint16Array(n),
    wireBytes,
  };
  json.slices.forEach((s, i) => {
    let k = interned.get(s.name);
    if (k === undefined) {
      k = strings.length;
      strings.push(s.name);
      interned.set(s.name, k);
    }
    data.start[i] = s.start_ns;
    data.dur[i] = s.dur_ns;
    data.id[i] = s.id;
    data.name[i] = k;
    data.track[i] = s.track;
    data.depth[i] = s.depth;
  });
  return data;
}

/** Sum of `returned` and `in_window` over the tracks, for "n of m shown". */
export function shownCounts(data: Pick<TimelineData, "tracks">): { returned: number; inWindow: number } {
  let returned = 0;
  let inWindow = 0;
  for (const t of data.tracks) {
    returned += t.returned;
    inWindow += t.in_window;
  }
  return { returned, inWindow };
}
