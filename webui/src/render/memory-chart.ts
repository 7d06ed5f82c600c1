// Memory charts on uPlot: the compiler's heap over program order (a step line,
// the peak marked, an optional highlighted live range of one buffer) and an
// allocator's bytes in use / reserved over time (the peak marked, the capacity
// as a dashed line). The pure parts (decimation that keeps the peak, byte
// ticks in binary units, the peak label's placement) are exported and tested.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { formatBytes, formatNs } from "../lib/format";
import { niceStep } from "../lib/ticks";

const BIN = [1, 1024, 1024 ** 2, 1024 ** 3, 1024 ** 4, 1024 ** 5];
const BIN_NAME = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

/** Index of the first maximum of `ys` (-1 when empty). */
export function peakIndex(ys: ArrayLike<number>): number {
  let best = -1;
  let v = -Infinity;
  for (let i = 0; i < ys.length; i++) {
    if (ys[i]! > v) {
      v = ys[i]!;
      best = i;
    }
  }
  return best;
}

/**
 * At most ~`buckets` x 4 points of a step series that draw the same picture:
 * per bucket of consecutive points the first, the minimum, the maximum and the
 * last, in their original order. The global peak is always kept (it is a
 * bucket's maximum), so the marked peak sits on the line.
 */
export function decimateMinMax(xs: ArrayLike<number>, ys: ArrayLike<number>, buckets: number): { xs: number[]; ys: number[]; kept: number[] } {
  const n = Math.min(xs.length, ys.length);
  const kept: number[] = [];
  if (n <= buckets * 4 || buckets < 1) {
    for (let i = 0; i < n; i++) kept.push(i);
  } else {
    const per = n / buckets;
    for (let b = 0; b < buckets; b++) {
      const lo = Math.floor(b * per);
      const hi = Math.min(n, Math.floor((b + 1) * per));
      if (hi <= lo) continue;
      let mn = lo;
      let mx = lo;
      for (let i = lo; i < hi; i++) {
        if (ys[i]! < ys[mn]!) mn = i;
        if (ys[i]! > ys[mx]!) mx = i;
      }
      for (const i of [...new Set([lo, mn, mx, hi - 1])].sort((a, c) => a - c)) kept.push(i);
    }
  }
  return { xs: kept.map((i) => xs[i]!), ys: kept.map((i) => ys[i]!), kept };
}

/** The binary unit that suits a byte axis up to `max` (largest with max >= 1 of it). */
export function byteUnit(max: number): { div: number; name: string } {
  let i = 0;
  while (i < BIN.length - 1 && Math.abs(max) >= BIN[i + 1]!) i++;
  return { div: BIN[i]!, name: BIN_NAME[i]! };
}

/**
 * Ticks for a byte axis [0, max]: 1/2/5 x 10^k steps in one binary unit, about
 * `target` of them, labelled in that unit ("256 MiB", "1.5 GiB").
 */
export function byteTicks(max: number, target = 5): { values: number[]; labels: string[]; unit: string } {
  if (!(max > 0)) return { values: [0], labels: ["0 B"], unit: "B" };
  const u = byteUnit(max);
  const span = max / u.div;
  const step = span / target >= 1 ? niceStep(span / target) : niceFraction(span / target);
  const values: number[] = [];
  const labels: string[] = [];
  const dec = step >= 1 ? 0 : Math.min(6, Math.ceil(-Math.log10(step) - 1e-9));
  for (let i = 0; i * step <= span * (1 + 1e-9) && values.length < 100; i++) {
    const v = +(i * step).toFixed(dec + 2);
    values.push(v * u.div);
    labels.push(i === 0 ? "0" : `${v.toFixed(dec)} ${u.name}`);
  }
  return { values, labels, unit: u.name };
}

/** 1/2/5 x 10^k below 1. */
function niceFraction(raw: number): number {
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw - 1e-15) return m * p;
  return 10 * p;
}

/** Top of a byte axis: the next nice tick at or above `max` (with 4 % headroom). */
export function byteAxisMax(max: number, target = 5): number {
  if (!(max > 0)) return 1;
  const t = byteTicks(max * 1.04, target);
  const step = t.values.length > 1 ? t.values[1]! - t.values[0]! : max;
  return Math.ceil((max * 1.04) / step) * step;
}

/**
 * Where the peak's label goes: right of the marker, or left of it when it
 * would be cut off at the plot's right edge; never left of the plot.
 */
export function labelX(peakPx: number, textW: number, plotLeft: number, plotRight: number, gap = 6): { x: number; align: "left" | "right" } {
  if (peakPx + gap + textW <= plotRight) return { x: peakPx + gap, align: "left" };
  if (peakPx - gap - textW >= plotLeft) return { x: peakPx - gap, align: "right" };
  return { x: plotLeft + 2, align: "left" };
}

export interface ChartColors {
  fg: string;
  muted: string;
  grid: string;
  line: string;
  fill: string;
  second: string;
  peak: string;
  band: string;
}

export function chartColors(dark: boolean): ChartColors {
  return dark
    ? { fg: "#e6e8ec", muted: "#9aa3b2", grid: "#2a2e37", line: "#7cacf8", fill: "rgba(124,172,248,0.18)", second: "#fdd663", peak: "#f28b82", band: "rgba(253,214,99,0.22)" }
    : { fg: "#1d2330", muted: "#5d6778", grid: "#e5e8ee", line: "#1a73e8", fill: "rgba(26,115,232,0.12)", second: "#e8710a", peak: "#d93025", band: "rgba(232,113,10,0.18)" };
}

export interface MemoryChart {
  setSize(width: number, height: number): void;
  /** Shade [start, end] on the x axis (a buffer's live range), or clear it. */
  band(range: [number, number] | null): void;
  destroy(): void;
  /** CSS px of the peak marker inside the chart element (tests, keyboard focus). */
  peakPos(): { x: number; y: number } | null;
}

interface Series {
  label: string;
  ys: ArrayLike<number>;
  dashed?: boolean;
  fill?: boolean;
  color: string;
}

interface BaseOptions {
  width: number;
  height: number;
  dark: boolean;
  xs: ArrayLike<number>;
  series: Series[];
  xLabel: string;
  yLabel: string;
  /** Allowed tick steps on x (integers for program order). */
  xIncrs?: number[];
  xValue: (v: number) => string;
  /** The peak: its x and y, labelled "peak …". */
  peak: { x: number; y: number; label: string } | null;
  /** A horizontal dashed line (the capacity), labelled. */
  limit?: { y: number; label: string } | null;
  stepped: boolean;
  onHover?: (idx: number | null) => void;
}

function make(el: HTMLElement, o: BaseOptions): MemoryChart {
  const c = chartColors(o.dark);
  let bandRange: [number, number] | null = null;
  const maxY = Math.max(o.peak?.y ?? 0, o.limit?.y ?? 0, ...o.series.map((s) => peakValue(s.ys)));
  const top = byteAxisMax(maxY);
  const buckets = Math.max(64, Math.round(o.width));
  const dec = decimateMinMax(o.xs, o.series[0]!.ys, buckets);
  const data: uPlot.AlignedData = [dec.xs, ...o.series.map((s) => dec.kept.map((i) => s.ys[i]!))];
  const stepPath = o.stepped ? uPlot.paths.stepped!({ align: 1 }) : undefined;
  const font = "11px system-ui, sans-serif";
  const opts: uPlot.Options = {
    width: o.width,
    height: o.height,
    legend: { show: false },
    cursor: { drag: { x: false, y: false }, points: { show: false } },
    scales: {
      x: { time: false },
      y: { range: () => [0, top] },
    },
    axes: [
      {
        label: o.xLabel, stroke: c.fg, font, labelFont: font, incrs: o.xIncrs, space: 70,
        grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid },
        values: (_u, splits) => splits.map((v) => o.xValue(v)),
      },
      {
        label: o.yLabel, stroke: c.fg, font, labelFont: font, size: 70,
        grid: { stroke: c.grid, width: 1 }, ticks: { stroke: c.grid },
        splits: () => byteTicks(top).values,
        values: (_u, splits) => { const t = byteTicks(top); return splits.map((v) => t.labels[t.values.indexOf(v)] ?? formatBytes(v)); },
      },
    ],
    series: [
      { label: o.xLabel, value: (_u, v) => (v === null ? "–" : o.xValue(v)) },
      ...o.series.map((s): uPlot.Series => ({
        label: s.label, stroke: s.color, width: s.dashed ? 1.5 : 2, dash: s.dashed ? [6, 4] : undefined,
        fill: s.fill ? c.fill : undefined, paths: stepPath, points: { show: false },
        value: (_u, v) => (v === null ? "–" : formatBytes(v)),
      })),
    ],
    hooks: {
      draw: [
        (u) => {
          const ctx = u.ctx;
          const dpr = uPlot.pxRatio;
          const { left, top: t, width, height } = u.bbox;
          ctx.save();
          ctx.font = `${11 * dpr}px system-ui, sans-serif`;
          ctx.textBaseline = "bottom";
          if (bandRange) {
            const x0 = u.valToPos(bandRange[0], "x", true);
            const x1 = u.valToPos(bandRange[1], "x", true);
            ctx.fillStyle = c.band;
            ctx.fillRect(Math.min(x0, x1), t, Math.max(2 * dpr, Math.abs(x1 - x0)), height);
          }
          if (o.limit) {
            const y = u.valToPos(o.limit.y, "y", true);
            ctx.strokeStyle = c.muted;
            ctx.lineWidth = dpr;
            ctx.setLineDash([3 * dpr, 3 * dpr]);
            ctx.beginPath();
            ctx.moveTo(left, y);
            ctx.lineTo(left + width, y);
            ctx.stroke();
            ctx.setLineDash([]);
            ctx.fillStyle = c.muted;
            ctx.textAlign = "right";
            ctx.fillText(o.limit.label, left + width - 4 * dpr, y - 2 * dpr);
          }
          if (o.peak) {
            const x = u.valToPos(o.peak.x, "x", true);
            const y = u.valToPos(o.peak.y, "y", true);
            ctx.strokeStyle = c.peak;
            ctx.lineWidth = dpr;
            ctx.setLineDash([4 * dpr, 3 * dpr]);
            ctx.beginPath();
            ctx.moveTo(x, t);
            ctx.lineTo(x, t + height);
            ctx.stroke();
            ctx.setLineDash([]);
            ctx.fillStyle = c.peak;
            ctx.beginPath();
            ctx.arc(x, y, 4 * dpr, 0, Math.PI * 2);
            ctx.fill();
            const w = ctx.measureText(o.peak.label).width;
            const lx = labelX(x, w, left, left + width, 6 * dpr);
            ctx.textAlign = lx.align;
            ctx.fillStyle = c.fg;
            ctx.fillText(o.peak.label, lx.x, Math.max(t + 14 * dpr, y - 6 * dpr));
          }
          ctx.restore();
        },
      ],
      // The hovered point as an index into the caller's arrays (not the decimated ones).
      setCursor: [(u) => { const i = u.cursor.idx; o.onHover?.(i === null || i === undefined ? null : dec.kept[i] ?? null); }],
    },
  };
  const u = new uPlot(opts, data, el);
  return {
    setSize: (width, height) => u.setSize({ width, height }),
    band: (r) => {
      bandRange = r;
      u.redraw(false);
    },
    destroy: () => u.destroy(),
    peakPos: () => (o.peak ? { x: u.over.offsetLeft + u.valToPos(o.peak.x, "x"), y: u.over.offsetTop + u.valToPos(o.peak.y, "y") } : null),
  };
}

function peakValue(ys: ArrayLike<number>): number {
  const i = peakIndex(ys);
  return i < 0 ? 0 : ys[i]!;
}

export interface HeapChartOptions {
  width: number;
  height: number;
  dark: boolean;
  /** Program-order position of each point (the heap simulation's index). */
  position: ArrayLike<number>;
  /** Heap size (bytes) at each point. */
  heap: ArrayLike<number>;
  /** The same without padding, when known. */
  unpadded?: ArrayLike<number> | null;
  /** The peak as the server computed it (a point of the full simulation, kept in the series). */
  peak?: { position: number; bytes: number; label: string } | null;
  onHover?: (idx: number | null) => void;
}

/** The heap over program order: x is the position in the heap simulation. */
export function createHeapChart(el: HTMLElement, o: HeapChartOptions): MemoryChart {
  const c = chartColors(o.dark);
  const series: Series[] = [{ label: "heap size", ys: o.heap, fill: true, color: c.line }];
  if (o.unpadded && o.unpadded.length === o.heap.length) series.push({ label: "unpadded heap size", ys: o.unpadded, dashed: true, color: c.second });
  const p = peakIndex(o.heap);
  const peak = o.peak
    ? { x: o.peak.position, y: o.peak.bytes, label: o.peak.label }
    : p >= 0 ? { x: o.position[p]!, y: o.heap[p]!, label: `peak ${formatBytes(o.heap[p]!)}` } : null;
  return make(el, {
    width: o.width, height: o.height, dark: o.dark, xs: o.position, series, stepped: true,
    xLabel: "program order (position in the heap simulation)",
    yLabel: "heap size",
    xIncrs: Array.from({ length: 16 }, (_, k) => [1, 2, 5].map((m) => m * 10 ** k)).flat(),
    xValue: (v) => (Number.isInteger(v) ? v.toLocaleString("en-US") : ""),
    peak,
    onHover: o.onHover,
  });
}

export interface AllocatorChartOptions {
  width: number;
  height: number;
  dark: boolean;
  /** Snapshot times, ns from the profile's start. */
  t_ns: ArrayLike<number>;
  inUse: ArrayLike<number>;
  reserved?: ArrayLike<number> | null;
  /** The allocator's peak as the source reported it (time and bytes), else the max of inUse. */
  peak?: { t_ns: number; bytes: number } | null;
  capacity?: number | null;
  onHover?: (idx: number | null) => void;
}

/** An allocator's bytes over time (x in ns from the profile's start). */
export function createAllocatorChart(el: HTMLElement, o: AllocatorChartOptions): MemoryChart {
  const c = chartColors(o.dark);
  const series: Series[] = [{ label: "in use", ys: o.inUse, fill: true, color: c.line }];
  if (o.reserved && o.reserved.length === o.inUse.length) series.push({ label: "reserved", ys: o.reserved, dashed: true, color: c.second });
  const i = peakIndex(o.inUse);
  const peak = o.peak ?? (i >= 0 ? { t_ns: o.t_ns[i]!, bytes: o.inUse[i]! } : null);
  return make(el, {
    width: o.width, height: o.height, dark: o.dark, xs: o.t_ns, series, stepped: true,
    xLabel: "time from the profile's start",
    yLabel: "bytes in use",
    xValue: (v) => formatNs(v),
    peak: peak ? { x: peak.t_ns, y: peak.bytes, label: `peak ${formatBytes(peak.bytes)} at ${formatNs(peak.t_ns)}` } : null,
    limit: o.capacity ? { y: o.capacity, label: `capacity ${formatBytes(o.capacity)}` } : null,
    onHover: o.onHover,
  });
}
