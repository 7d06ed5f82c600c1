import { toCsv, type CsvColumn } from "./csv";

// Roofline model math. Spaces and units:
//   oi           operational intensity, FLOP per byte (x axis, log)
//   flops_per_s  achieved or attainable FLOP/s (y axis, log)
//   peak compute `flops_per_s`, peak memory bandwidth `bytes_per_s`.

export interface Peaks {
  flops_per_s: number;
  bytes_per_s: number;
}

export interface PlotPoint {
  oi: number;
  flops_per_s: number;
  share: number;
}

/** Attainable FLOP/s at an intensity: min(compute roof, oi x bandwidth). */
export function attainable(oi: number, p: Peaks): number {
  return Math.min(p.flops_per_s, oi * p.bytes_per_s);
}

/** Intensity where the memory roof meets the compute roof. */
export function ridgeOi(p: Peaks): number {
  return p.bytes_per_s > 0 ? p.flops_per_s / p.bytes_per_s : Infinity;
}

export function boundBy(oi: number, p: Peaks): "compute" | "memory" {
  return oi >= ridgeOi(p) ? "compute" : "memory";
}

/** Achieved / attainable at the point's intensity (0..1, may exceed 1 when peaks are low). */
export function efficiency(pt: { oi: number; flops_per_s: number }, p: Peaks): number {
  const a = attainable(pt.oi, p);
  return a > 0 ? pt.flops_per_s / a : 0;
}

/** Can the point be drawn on log-log axes? */
export function plottable(pt: { oi: number; flops_per_s: number }): boolean {
  return Number.isFinite(pt.oi) && pt.oi > 0 && Number.isFinite(pt.flops_per_s) && pt.flops_per_s > 0;
}

function decadeFloor(v: number): number {
  return Math.pow(10, Math.floor(Math.log10(v)));
}

function decadeCeil(v: number): number {
  return Math.pow(10, Math.ceil(Math.log10(v)));
}

/** Log axis ranges (whole decades) that hold every point, the ridge and the roofs. */
export function axisRanges(points: PlotPoint[], p: Peaks): { x: [number, number]; y: [number, number] } {
  const ridge = ridgeOi(p);
  let xMin = ridge / 100;
  let xMax = ridge * 100;
  let yMin = p.flops_per_s / 1e4;
  let yMax = p.flops_per_s * 2;
  for (const pt of points) {
    if (!plottable(pt)) continue;
    xMin = Math.min(xMin, pt.oi);
    xMax = Math.max(xMax, pt.oi);
    yMin = Math.min(yMin, pt.flops_per_s);
    yMax = Math.max(yMax, pt.flops_per_s);
  }
  return {
    x: [decadeFloor(xMin), decadeCeil(xMax)],
    y: [decadeFloor(yMin), decadeCeil(yMax)],
  };
}

/**
 * The roof as a polyline over [xMin, xMax]: in log-log space it is two
 * straight segments, so three points (ends and ridge) draw it exactly.
 */
export function roofPolyline(xMin: number, xMax: number, p: Peaks): { xs: number[]; memory: (number | null)[]; compute: (number | null)[] } {
  const ridge = ridgeOi(p);
  const xs = [xMin, Math.min(Math.max(ridge, xMin), xMax), xMax];
  const memory = xs.map((x) => (x <= ridge ? x * p.bytes_per_s : null));
  const compute = xs.map((x) => (x >= ridge ? p.flops_per_s : null));
  return { xs, memory, compute };
}

/** Marker radius (CSS px) so that area is proportional to time share. */
export function pointRadius(share: number, minR = 3, maxR = 18): number {
  const s = Math.max(0, Math.min(1, share || 0));
  return minR + (maxR - minR) * Math.sqrt(s);
}

/** Index of the point nearest to (x, y) in pixels within `maxDist`, else -1. */
export function nearestPoint(
  pts: { x: number; y: number; r: number }[],
  x: number,
  y: number,
  maxDist = 6,
): number {
  let best = -1;
  let bestD = Infinity;
  for (let i = 0; i < pts.length; i++) {
    const p = pts[i]!;
    const d = Math.hypot(p.x - x, p.y - y) - p.r;
    if (d < bestD && d <= maxDist) {
      best = i;
      bestD = d;
    }
  }
  return best;
}

/** A roofline point as the API sends it (docs/api.md, `Point`). */
export interface RooflineRow {
  module: string;
  op?: string;
  category?: string;
  time_ns: number;
  share: number;
  flops: number;
  bytes: number;
  oi: number;
  flops_per_s: number;
  bytes_per_s: number;
  bound_by: string;
  efficiency: number;
}

export const ROOFLINE_CSV_COLUMNS: CsvColumn<RooflineRow>[] = [
  { header: "module", value: (p) => p.module },
  { header: "op", value: (p) => p.op ?? "" },
  { header: "category", value: (p) => p.category ?? "" },
  { header: "time_ns", value: (p) => p.time_ns },
  { header: "share", value: (p) => p.share },
  { header: "flops", value: (p) => p.flops },
  { header: "bytes", value: (p) => p.bytes },
  { header: "oi_flops_per_byte", value: (p) => p.oi },
  { header: "flops_per_s", value: (p) => p.flops_per_s },
  { header: "bytes_per_s", value: (p) => p.bytes_per_s },
  { header: "bound_by", value: (p) => p.bound_by },
  { header: "efficiency", value: (p) => p.efficiency },
];

/** The roofline table as CSV, one row per point. */
export function rooflineCsv(points: readonly RooflineRow[]): string {
  return toCsv(ROOFLINE_CSV_COLUMNS, points);
}

/**
 * Grid lines of a log axis: only the decades (1, 10, 100, ...) when at least
 * two are in view, else every split. uPlot puts a split at every 1..9 x 10^n,
 * which on a 10-decade roofline is ~90 lines.
 */
export function decadeSplits(splits: readonly number[]): (number | null)[] {
  const isDecade = (v: number) => v > 0 && Math.abs(Math.log10(v) - Math.round(Math.log10(v))) < 1e-9;
  const decades = splits.filter(isDecade).length;
  return decades >= 2 ? splits.map((v) => (isDecade(v) ? v : null)) : [...splits];
}
