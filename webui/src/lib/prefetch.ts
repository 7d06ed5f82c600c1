// Which window to ask the timeline API for, given what is visible.
//
// The request is aligned to a power-of-two grid of the visible span so that
// small pans and zooms reuse the same response (and the same cache key): with
// Q = 2^ceil(log2(span)) and a = floor(t0 / Q) * Q the request is
// [a - Q, a + 3Q] -- at least one visible span of margin on each side -- at
// 4 x (canvas width) px, which gives at least one bucket per visible pixel.

import { spanNs, type Bounds, type TimeWindow } from "./transform";

export interface FetchPlan {
  start_ns: number;
  end_ns: number;
  width: number;
  /** log2 of the grid quantum: a new level means a new resolution. */
  level: number;
}

/** Canvas widths are rounded up to this many px so resizes rarely refetch. */
export const WIDTH_QUANTUM_PX = 128;
export const MAX_REQUEST_WIDTH = 16384;

export function quantizeWidth(width_px: number): number {
  return Math.max(WIDTH_QUANTUM_PX, Math.ceil(width_px / WIDTH_QUANTUM_PX) * WIDTH_QUANTUM_PX);
}

export function planFetch(w: TimeWindow, width_px: number, b: Bounds): FetchPlan {
  const span = Math.max(spanNs(w), 1);
  const level = Math.ceil(Math.log2(span));
  const q = Math.pow(2, level);
  const a = Math.floor(w.t0_ns / q) * q;
  const fullWidth = 4 * quantizeWidth(width_px);
  const start = Math.max(b.start_ns, a - q);
  const end = Math.min(b.end_ns, a + 3 * q);
  const width = Math.max(1, Math.min(MAX_REQUEST_WIDTH, Math.round((fullWidth * (end - start)) / (4 * q))));
  return { start_ns: start, end_ns: end, width, level };
}

export function planKey(p: FetchPlan, tracksKey: string): string {
  return `${p.start_ns}:${p.end_ns}:${p.width}:${tracksKey}`;
}

/**
 * Can data fetched for [start, end] at `bucket_ns` serve the visible window
 * at this width? It must cover the window and have at least one bucket per
 * visible pixel.
 */
export function covers(
  data: { start_ns: number; end_ns: number; bucket_ns: number },
  w: TimeWindow,
  width_px: number,
  b: Bounds,
): boolean {
  const t0 = Math.max(w.t0_ns, b.start_ns);
  const t1 = Math.min(w.t1_ns, b.end_ns);
  if (data.start_ns > t0 + 0.5 || data.end_ns < t1 - 0.5) return false;
  const nsPerPx = spanNs(w) / Math.max(1, width_px);
  return data.bucket_ns <= nsPerPx * 1.0001 || data.bucket_ns <= 1;
}
