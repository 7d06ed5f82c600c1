// The hosts × steps heatmap: one row per host, one column per step, each cell
// coloured by that host's step time. Pure layout, colour scale and hit-test
// (tested), and a draw that gets a context, the data and colours as strings.

import { formatNs } from "../lib/format";

/** Cell values: rows × columns of ns, null where the host has no such step. */
export interface HeatmapData {
  rows: string[];
  cols: number[];
  /** values[row][col], ns or null. */
  values: (number | null)[][];
  /** The row of the slowest host of each column (-1 when none), outlined. */
  slowest: number[];
}

export interface HeatmapGeometry {
  left: number;
  top: number;
  cellW: number;
  cellH: number;
  plotW: number;
  plotH: number;
  /** Colour scale bounds (ns). */
  lo: number;
  hi: number;
}

export const HEAT_ROW_H = 22;
const MAX_ROW_H = 28;

/**
 * A light-to-dark sequential scale (YlOrRd-like: pale yellow for the fastest,
 * dark red for the slowest), readable on both themes and for most colour-blind
 * viewers since it is monotone in lightness.
 */
export const HEAT_STOPS: readonly [number, number, number][] = [
  [255, 245, 204], [254, 217, 118], [253, 141, 60], [227, 26, 28], [128, 0, 38],
];

/** The colour of t in [0, 1] on HEAT_STOPS, "rgb(r,g,b)". */
export function heatColor(t: number): string {
  const x = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (HEAT_STOPS.length - 1);
  const i = Math.min(HEAT_STOPS.length - 2, Math.floor(x));
  const f = x - i;
  const a = HEAT_STOPS[i]!;
  const b = HEAT_STOPS[i + 1]!;
  const c = (k: number) => Math.round(a[k]! + (b[k]! - a[k]!) * f);
  return `rgb(${c(0)},${c(1)},${c(2)})`;
}

/** Text that reads on a cell of heatColor(t). */
export function heatText(t: number): string {
  return t > 0.55 ? "#ffffff" : "#1f1f1f";
}

/**
 * Scale bounds: from the smallest value to the largest, but spanning at least
 * `minRel` of the smallest (25 %), so a few percent of jitter stays pale and
 * only a real straggler reaches the dark end. A map with no values gets 0..1.
 */
export function heatRange(values: readonly (readonly (number | null)[])[], minRel = 0.25): { lo: number; hi: number } {
  let lo = Infinity;
  let hi = -Infinity;
  for (const row of values) for (const v of row) {
    if (v === null || !Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!Number.isFinite(lo)) return { lo: 0, hi: 1 };
  return { lo, hi: Math.max(hi, lo + Math.max(1, Math.abs(lo) * minRel)) };
}

/** Where v sits on the scale, 0..1. */
export function heatT(v: number, g: { lo: number; hi: number }): number {
  return Math.min(1, Math.max(0, (v - g.lo) / (g.hi - g.lo)));
}

/**
 * Cells fill the width after a gutter for host names (`left`); at least
 * `minCell` px each (the canvas is then wider than `width` and scrolls).
 */
export function heatmapGeometry(d: HeatmapData, width: number, left: number, minCell = 6): HeatmapGeometry {
  const top = 4;
  const n = Math.max(1, d.cols.length);
  const cellW = Math.max(minCell, (width - left - 8) / n);
  const cellH = d.rows.length <= 4 ? MAX_ROW_H : HEAT_ROW_H;
  return { left, top, cellW, cellH, plotW: cellW * d.cols.length, plotH: cellH * d.rows.length, ...heatRange(d.values) };
}

/** Canvas height the geometry needs: rows plus the step-number axis. */
export function heatmapHeight(g: HeatmapGeometry): number {
  return g.top + g.plotH + 22;
}

/** The cell under (x, y) in CSS px, or null. */
export function cellAt(d: HeatmapData, g: HeatmapGeometry, x: number, y: number): { row: number; col: number } | null {
  if (x < g.left || y < g.top) return null;
  const col = Math.floor((x - g.left) / g.cellW);
  const row = Math.floor((y - g.top) / g.cellH);
  if (col < 0 || col >= d.cols.length || row < 0 || row >= d.rows.length) return null;
  return { row, col };
}

/** Every how many columns a step number fits under the axis (labels ~36 px apart). */
export function labelEvery(cellW: number, minGap = 36): number {
  return Math.max(1, Math.ceil(minGap / Math.max(1e-9, cellW)));
}

/** Shortens a host name to fit `maxChars`, keeping its end (where hosts differ). */
export function shortHost(name: string, maxChars: number): string {
  if (name.length <= maxChars) return name;
  return `…${name.slice(name.length - Math.max(1, maxChars - 1))}`;
}

export interface HeatmapColors {
  bg: string;
  fg: string;
  muted: string;
  grid: string;
  empty: string;
}

export function drawHeatmap(
  ctx: CanvasRenderingContext2D,
  d: HeatmapData,
  g: HeatmapGeometry,
  width: number,
  c: HeatmapColors,
  hover: { row: number; col: number } | null,
): void {
  const height = heatmapHeight(g);
  ctx.fillStyle = c.bg;
  ctx.fillRect(0, 0, width, height);
  ctx.font = "12px system-ui, sans-serif";
  ctx.textBaseline = "middle";
  // Host names in the gutter, right-aligned against the cells.
  ctx.textAlign = "right";
  const maxChars = Math.max(4, Math.floor((g.left - 10) / 7));
  d.rows.forEach((r, i) => {
    ctx.fillStyle = c.fg;
    ctx.fillText(shortHost(r, maxChars), g.left - 8, g.top + (i + 0.5) * g.cellH);
  });
  const gap = g.cellW > 8 ? 1 : 0;
  const showText = g.cellW >= 52 && g.cellH >= 18;
  ctx.textAlign = "center";
  ctx.font = "11px system-ui, sans-serif";
  for (let i = 0; i < d.rows.length; i++) {
    for (let j = 0; j < d.cols.length; j++) {
      const v = d.values[i]?.[j] ?? null;
      const x = g.left + j * g.cellW;
      const y = g.top + i * g.cellH;
      if (v === null) {
        ctx.fillStyle = c.empty;
        ctx.fillRect(x, y, g.cellW - gap, g.cellH - gap);
        continue;
      }
      const t = heatT(v, g);
      ctx.fillStyle = heatColor(t);
      ctx.fillRect(x, y, g.cellW - gap, g.cellH - gap);
      if (showText) {
        ctx.fillStyle = heatText(t);
        ctx.fillText(formatNs(v), x + g.cellW / 2, y + g.cellH / 2);
      }
    }
  }
  // The host that held each step up: a frame in the colour that reads on its cell (only
  // with more than one host); on cells too narrow to frame, a bar along the cell's foot.
  if (d.rows.length > 1) {
    ctx.lineWidth = 1.5;
    d.slowest.forEach((row, j) => {
      if (row < 0) return;
      const v = d.values[row]?.[j] ?? null;
      const ink = v === null ? c.fg : heatText(heatT(v, g));
      const x = g.left + j * g.cellW;
      const y = g.top + row * g.cellH;
      if (g.cellW >= 12) {
        ctx.strokeStyle = ink;
        ctx.strokeRect(x + 1, y + 1, Math.max(1, g.cellW - gap - 2), g.cellH - gap - 2);
      } else {
        ctx.fillStyle = ink;
        ctx.fillRect(x, y + g.cellH - gap - 3, Math.max(1, g.cellW - gap), 2);
      }
    });
  }
  if (hover) {
    // The hovered cell: a dashed frame (solid frames mark the slowest host).
    ctx.strokeStyle = c.fg;
    ctx.lineWidth = 2;
    ctx.setLineDash([4, 3]);
    ctx.strokeRect(g.left + hover.col * g.cellW + 1, g.top + hover.row * g.cellH + 1, Math.max(1, g.cellW - gap - 2), g.cellH - gap - 2);
    ctx.setLineDash([]);
  }
  // Step numbers under the cells, named in the gutter.
  ctx.fillStyle = c.muted;
  ctx.textAlign = "right";
  ctx.fillText("step", g.left - 8, g.top + g.plotH + 11);
  ctx.textAlign = "center";
  const every = labelEvery(g.cellW);
  d.cols.forEach((s, j) => {
    if (j % every) return;
    const x = g.left + (j + 0.5) * g.cellW;
    const label = String(s);
    // Never under the "step" caption in the gutter.
    if (x - ctx.measureText(label).width / 2 < g.left - 2) return;
    ctx.fillText(label, x, g.top + g.plotH + 11);
  });
  ctx.textAlign = "left";
}
