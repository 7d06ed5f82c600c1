// Per-row index of one timeline response: for every (track, depth) the slice
// indices sorted by start, so a frame visits only the visible part of each
// row (binary search) and hover hit-tests in O(log n).

import type { TimelineData } from "../api/timeline-decode";

export interface Row {
  /**
   * Indices into the data columns, by start time; null when the row is the
   * contiguous range [base, base + starts.length) of the columns.
   */
  order: Uint32Array | null;
  base: number;
  /** Start times by position in the row (for binary search). */
  starts: Float64Array;
  /** Longest duration in the row (bounds the backward search). */
  maxDur: number;
}

/** Data index of the j-th slice of a row. */
export function rowAt(row: Row, j: number): number {
  return row.order ? row.order[j]! : row.base + j;
}

export class TimelineIndex {
  private readonly rows = new Map<number, Row[]>();
  private byIdMap: Map<number, number> | null = null;

  constructor(readonly data: TimelineData) {
    if (!this.indexContiguous()) this.indexScattered();
  }

  /**
   * Fast path: the server sends slices ordered by (track, depth, start), so
   * each row is a contiguous run of the columns and needs no copying.
   */
  private indexContiguous(): boolean {
    const { track, depth, start, dur, count: n } = this.data;
    for (let i = 1; i < n; i++) {
      const t = track[i]!;
      const pt = track[i - 1]!;
      if (t < pt) return false;
      if (t === pt) {
        const d = depth[i]!;
        const pd = depth[i - 1]!;
        if (d < pd || (d === pd && start[i]! < start[i - 1]!)) return false;
      }
    }
    let a = 0;
    while (a < n) {
      const t = track[a]!;
      const d = depth[a]!;
      let b = a;
      let maxDur = 0;
      while (b < n && track[b] === t && depth[b] === d) {
        if (dur[b]! > maxDur) maxDur = dur[b]!;
        b++;
      }
      let rs = this.rows.get(t);
      if (!rs) this.rows.set(t, (rs = []));
      rs[d] = { order: null, base: a, starts: start.subarray(a, b), maxDur };
      a = b;
    }
    return true;
  }

  private indexScattered(): void {
    // Counting sort of the slices into (track, depth) rows, all in typed
    // arrays: O(n) plus a sort only for rows that arrive out of order.
    const data = this.data;
    const n = data.count;
    const { track, depth, start, dur } = data;
    let maxTrack = 0;
    let maxDepth = 0;
    for (let i = 0; i < n; i++) {
      if (track[i]! > maxTrack) maxTrack = track[i]!;
      if (depth[i]! > maxDepth) maxDepth = depth[i]!;
    }
    const D = maxDepth + 1;
    const dense = (maxTrack + 1) * D <= 4 * n + 4096;
    // Row slot of each slice: dense (track * D + depth) when ids are small,
    // otherwise through a map.
    const slotOf = new Uint32Array(n);
    const slotKeys: number[] = [];
    let nSlots: number;
    if (dense) {
      nSlots = (maxTrack + 1) * D;
      for (let i = 0; i < n; i++) slotOf[i] = track[i]! * D + depth[i]!;
    } else {
      const m = new Map<number, number>();
      for (let i = 0; i < n; i++) {
        const key = track[i]! * D + depth[i]!;
        let s = m.get(key);
        if (s === undefined) {
          s = slotKeys.length;
          m.set(key, s);
          slotKeys.push(key);
        }
        slotOf[i] = s;
      }
      nSlots = slotKeys.length;
    }
    const counts = new Uint32Array(nSlots + 1);
    for (let i = 0; i < n; i++) counts[slotOf[i]! + 1]!++;
    for (let k = 0; k < nSlots; k++) counts[k + 1]! += counts[k]!;
    const order = new Uint32Array(n);
    const starts = new Float64Array(n);
    const fill = counts.slice(0, nSlots);
    const maxDur = new Float64Array(nSlots);
    const unsorted = new Uint8Array(nSlots);
    for (let i = 0; i < n; i++) {
      const slot = slotOf[i]!;
      const j = fill[slot]!++;
      const st = start[i]!;
      if (j > counts[slot]! && starts[j - 1]! > st) unsorted[slot] = 1;
      order[j] = i;
      starts[j] = st;
      if (dur[i]! > maxDur[slot]!) maxDur[slot] = dur[i]!;
    }
    for (let slot = 0; slot < nSlots; slot++) {
      const a = counts[slot]!;
      const b = counts[slot + 1]!;
      if (a === b) continue;
      const key = dense ? slot : slotKeys[slot]!;
      const t = Math.floor(key / D);
      const d = key - t * D;
      const row: Row = { order: order.subarray(a, b), base: 0, starts: starts.subarray(a, b), maxDur: maxDur[slot]! };
      if (unsorted[slot]) {
        const idx = Array.from(row.order!).sort((x, y) => start[x]! - start[y]!);
        row.order!.set(idx);
        for (let j = 0; j < idx.length; j++) row.starts[j] = start[idx[j]!]!;
      }
      let rs = this.rows.get(t);
      if (!rs) this.rows.set(t, (rs = []));
      rs[d] = row;
    }
  }

  row(trackId: number, depth: number): Row | undefined {
    return this.rows.get(trackId)?.[depth];
  }

  /** First position in the row whose slice may end at or after t0_ns. */
  firstVisible(row: Row, t0_ns: number): number {
    const target = t0_ns - row.maxDur;
    let lo = 0;
    let hi = row.starts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (row.starts[mid]! < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * The slice (data index) of a row under time t, or within `tol_ns` of it
   * (for slices narrower than a pixel); -1 if none.
   */
  hitTest(trackId: number, depth: number, t_ns: number, tol_ns: number): number {
    const row = this.row(trackId, depth);
    if (!row || row.starts.length === 0) return -1;
    const { start, dur } = this.data;
    let best = -1;
    let bestDist = Infinity;
    for (let j = this.firstVisible(row, t_ns - tol_ns); j < row.starts.length; j++) {
      const i = rowAt(row, j);
      const s = start[i]!;
      if (s > t_ns + tol_ns) break;
      const e = s + dur[i]!;
      const dist = t_ns < s ? s - t_ns : t_ns > e ? t_ns - e : 0;
      if (dist <= tol_ns && dist < bestDist) {
        best = i;
        bestDist = dist;
        if (dist === 0 && dur[i]! > 0) {
          // Inside a slice: prefer it unless a later one also contains t.
          continue;
        }
      }
    }
    return best;
  }

  /** Data index of an event id, or -1 (built on first use). */
  indexOfId(id: number): number {
    if (!this.byIdMap) {
      this.byIdMap = new Map();
      const ids = this.data.id;
      for (let i = 0; i < ids.length; i++) this.byIdMap.set(ids[i]!, i);
    }
    return this.byIdMap.get(id) ?? -1;
  }

  name(i: number): string {
    return this.data.strings[this.data.name[i]!] ?? "";
  }
}
