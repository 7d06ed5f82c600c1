// Roofline chart on uPlot: log-log axes (x: oi FLOP/byte, y: FLOP/s), the
// memory roof (oi x bandwidth) and compute roof (peak FLOP/s) as line series,
// the ridge point, and one circle per op whose area is its time share. The
// circles are drawn in a draw hook so each can have its own size; hover and
// click are hit-tested against them here.

import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { formatFlopsPerS, formatOi } from "../lib/format";
import { axisRanges, decadeSplits, nearestPoint, plottable, pointRadius, ridgeOi, roofPolyline, type Peaks, type PlotPoint } from "../lib/roofline";

export interface RooflineChartOptions<P extends PlotPoint> {
  points: P[];
  peaks: Peaks;
  width: number;
  height: number;
  dark: boolean;
  colorOf: (p: P) => string;
  /** Points above a roof: drawn with a warning ring (the table says why). */
  flagged?: (p: P) => boolean;
  onHover: (p: P | null, x: number, y: number) => void;
  onClick: (p: P) => void;
}

export interface RooflineChart<P> {
  setSize(width: number, height: number): void;
  highlight(p: P | null): void;
  destroy(): void;
  /** CSS px position of each plotted point (for tests and keyboard focus). */
  positions(): { x: number; y: number; r: number; point: P }[];
}

function compact(v: number): string {
  if (v === 0) return "0";
  const e = Math.floor(Math.log10(Math.abs(v)));
  if (e >= -2 && e <= 3) return String(+v.toPrecision(3));
  const units = ["", "k", "M", "G", "T", "P", "E"];
  if (e > 3 && e < 21) {
    const u = Math.floor(e / 3);
    return `${+(v / Math.pow(10, u * 3)).toPrecision(3)}${units[u]}`;
  }
  return v.toExponential(0);
}

export function createRooflineChart<P extends PlotPoint>(el: HTMLElement, o: RooflineChartOptions<P>): RooflineChart<P> {
  const pts = o.points.filter(plottable);
  const ranges = axisRanges(pts, o.peaks);
  const roof = roofPolyline(ranges.x[0], ranges.x[1], o.peaks);
  const ridge = ridgeOi(o.peaks);
  const fg = o.dark ? "#e6e8ec" : "#1d2330";
  const grid = o.dark ? "#2a2e37" : "#e5e8ee";
  let highlighted: P | null = null;
  let hoverIdx = -1;

  const axis = (label: string, fmt: (v: number) => string): uPlot.Axis => ({
    label,
    stroke: fg,
    grid: { stroke: grid, width: 1, filter: (_u, splits) => decadeSplits(splits) },
    ticks: { stroke: grid, filter: (_u, splits) => decadeSplits(splits) },
    values: (_u, splits) => splits.map((v) => (v === null ? "" : fmt(v))),
  });

  const cssPositions = (u: uPlot) =>
    pts.map((p) => ({ x: u.valToPos(p.oi, "x"), y: u.valToPos(p.flops_per_s, "y"), r: pointRadius(p.share), point: p }));

  const opts: uPlot.Options = {
    width: o.width,
    height: o.height,
    legend: { show: true, live: false },
    cursor: { drag: { x: false, y: false }, points: { show: false } },
    scales: {
      x: { time: false, distr: 3, log: 10, range: () => ranges.x },
      y: { distr: 3, log: 10, range: () => ranges.y },
    },
    axes: [axis("operational intensity (FLOP/byte)", compact), axis("FLOP/s", compact)],
    series: [
      { label: "FLOP/byte", value: (_u, v) => (v === null ? "" : formatOi(v)) },
      { label: "memory roof", stroke: "#e8710a", width: 2, points: { show: false }, value: (_u, v) => (v === null ? "–" : formatFlopsPerS(v)) },
      { label: "compute roof", stroke: "#d93025", width: 2, points: { show: false }, value: (_u, v) => (v === null ? "–" : formatFlopsPerS(v)) },
    ],
    hooks: {
      draw: [
        (u) => {
          const ctx = u.ctx;
          const dpr = uPlot.pxRatio;
          ctx.save();
          ctx.beginPath();
          ctx.rect(u.bbox.left, u.bbox.top, u.bbox.width, u.bbox.height);
          ctx.clip();
          // Ridge point and its label.
          if (Number.isFinite(ridge)) {
            const rx = u.valToPos(ridge, "x", true);
            const ry = u.valToPos(o.peaks.flops_per_s, "y", true);
            ctx.setLineDash([4 * dpr, 4 * dpr]);
            ctx.strokeStyle = grid === "#2a2e37" ? "#666" : "#999";
            ctx.lineWidth = dpr;
            ctx.beginPath();
            ctx.moveTo(rx, ry);
            ctx.lineTo(rx, u.bbox.top + u.bbox.height);
            ctx.stroke();
            ctx.setLineDash([]);
            ctx.fillStyle = "#d93025";
            ctx.beginPath();
            ctx.arc(rx, ry, 4 * dpr, 0, Math.PI * 2);
            ctx.fill();
            ctx.fillStyle = fg;
            ctx.font = `${11 * dpr}px system-ui, sans-serif`;
            ctx.fillText(`ridge ${formatOi(ridge)}`, rx + 6 * dpr, ry + 14 * dpr);
          }
          // Points, largest first so small ones stay visible on top.
          const order = pts.map((_, i) => i).sort((a, b) => pts[b]!.share - pts[a]!.share);
          for (const i of order) {
            const p = pts[i]!;
            const x = u.valToPos(p.oi, "x", true);
            const y = u.valToPos(p.flops_per_s, "y", true);
            const r = pointRadius(p.share) * dpr;
            ctx.globalAlpha = 0.75;
            ctx.fillStyle = o.colorOf(p);
            ctx.beginPath();
            ctx.arc(x, y, r, 0, Math.PI * 2);
            ctx.fill();
            ctx.globalAlpha = 1;
            const strong = p === highlighted || i === hoverIdx;
            ctx.lineWidth = (strong ? 2.5 : 1) * dpr;
            ctx.strokeStyle = strong ? fg : o.dark ? "#00000088" : "#ffffffcc";
            ctx.stroke();
            if (o.flagged?.(p)) {
              ctx.setLineDash([3 * dpr, 2 * dpr]);
              ctx.lineWidth = 1.5 * dpr;
              ctx.strokeStyle = "#d93025";
              ctx.beginPath();
              ctx.arc(x, y, r + 3 * dpr, 0, Math.PI * 2);
              ctx.stroke();
              ctx.setLineDash([]);
            }
          }
          ctx.restore();
        },
      ],
      setCursor: [
        (u) => {
          const { left, top } = u.cursor;
          if (left === undefined || top === undefined || left < 0) {
            if (hoverIdx !== -1) {
              hoverIdx = -1;
              o.onHover(null, 0, 0);
              u.redraw(false);
            }
            return;
          }
          const idx = nearestPoint(cssPositions(u), left, top);
          if (idx !== hoverIdx) {
            hoverIdx = idx;
            u.redraw(false);
          }
          o.onHover(idx >= 0 ? pts[idx]! : null, left, top);
        },
      ],
    },
  };
  const u = new uPlot(opts, [roof.xs, roof.memory, roof.compute] as uPlot.AlignedData, el);
  u.over.addEventListener("click", () => {
    if (hoverIdx >= 0) o.onClick(pts[hoverIdx]!);
  });
  u.over.style.cursor = "crosshair";
  return {
    setSize: (width, height) => u.setSize({ width, height }),
    highlight: (p) => {
      highlighted = p;
      u.redraw(false);
    },
    destroy: () => u.destroy(),
    positions: () => cssPositions(u),
  };
}
