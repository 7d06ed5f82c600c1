// Canvas 2D renderer of the trace timeline. Knows nothing about the DOM
// around it or the UI framework: it gets a context, a scene (colours as
// strings, read from the theme by views/trace/colors.ts), and draws.
//
// Screen layout (CSS px):  [gutter GUTTER_W | slice area                 ]
//                          [ time axis AXIS_H, step markers               ]
//                          [ rows: content y - scrollY + AXIS_H           ]
// Times go through lib/transform (t_ns <-> px in the slice area); the same
// transform maps a pointer back (timeline-hit.ts).

import type { StepMarker } from "../api/wire";
import { paletteIndex, PALETTE_DARK, PALETTE_LIGHT, PALETTE_SIZE } from "../lib/color";
import { formatCount } from "../lib/format";
import { timeTicks } from "../lib/ticks";
import { tNsToPx, type Viewport } from "../lib/transform";
import type { TimelineIndex } from "./timeline-index";
import { AXIS_H, GUTTER_W, ROW_H, TRACK_PAD, type TimelineLayout } from "./timeline-layout";

export interface TimelineColors {
  bg: string;
  fg: string;
  muted: string;
  grid: string;
  gutter: string;
  axis: string;
  hostBg: string;
  groupBg: string;
  accent: string;
  stepBand: string;
  sliceText: string;
  dark: boolean;
}

export interface TimelineScene {
  /** CSS px of the whole canvas. */
  width: number;
  height: number;
  /** Visible window; viewport.width_px is the slice area's width. */
  viewport: Viewport;
  scrollY: number;
  layout: TimelineLayout;
  index: TimelineIndex | null;
  steps: readonly StepMarker[];
  hoverIndex: number;
  selectedId: number | null;
  /** Per-track counts of the loaded response, for "n of m". */
  counts: Map<number, { returned: number; in_window: number }>;
  colors: TimelineColors;
}

export interface DrawStats {
  slices: number;
  rects: number;
  labels: number;
  /** Where the selected slice (a search hit, a click) was drawn: px in the slice area, or null. */
  selected: { x0: number; x1: number; y: number } | null;
  /** The axis as drawn: tick labels and what they count from. */
  axis: { labels: string[]; caption: string };
}

const FONT = "11px system-ui, -apple-system, 'Segoe UI', sans-serif";
const BOLD = "600 11px system-ui, -apple-system, 'Segoe UI', sans-serif";
const MIN_LABEL_PX = 26;
/** Steps narrower than this get no alternating band. */
const MIN_BAND_PX = 3;
/** Below this average spacing, step markers are ticks instead of triangles. */
const MIN_MARKER_GAP_PX = 10;

let charWidthCache = 0;
/** Per-colour rect buffers [x, y, w, h, ...], reused across frames. */
const RECTS: number[][] = Array.from({ length: PALETTE_SIZE }, () => []);

function charWidth(ctx: CanvasRenderingContext2D): number {
  if (!charWidthCache) {
    ctx.font = FONT;
    charWidthCache = ctx.measureText("abcdefghijklmnopqrstuvwxyz0123456789._").width / 38;
  }
  return charWidthCache;
}

function fitLabel(name: string, widthPx: number, cw: number): string {
  const max = Math.floor((widthPx - 6) / cw);
  if (max < 2) return "";
  return name.length <= max ? name : name.slice(0, max - 1) + "…";
}

/** Draw one frame. Returns what was drawn (for tests and the status line). */
export function drawTimeline(ctx: CanvasRenderingContext2D, s: TimelineScene): DrawStats {
  const stats: DrawStats = { slices: 0, rects: 0, labels: 0, selected: null, axis: { labels: [], caption: "" } };
  const { width, height, colors, viewport: vp } = s;
  const areaW = vp.width_px;
  const t0 = vp.window.t0_ns;
  const t1 = vp.window.t1_ns;
  const k = areaW / Math.max(1e-9, t1 - t0);
  ctx.fillStyle = colors.bg;
  ctx.fillRect(0, 0, width, height);

  const ticks = timeTicks(t0, t1, areaW);
  // ---- slice area (clipped) ----
  ctx.save();
  ctx.beginPath();
  ctx.rect(GUTTER_W, AXIS_H, areaW, height - AXIS_H);
  ctx.clip();
  ctx.translate(GUTTER_W, 0);
  // Step bands: every step (as the device ran it), alternating in strength so neighbours
  // stay apart; time between steps (the host pausing) stays unshaded. Steps narrower than
  // MIN_BAND_PX get none: thousands of 1-px bands cost a fillRect each and only add a
  // noisy texture.
  ctx.fillStyle = colors.stepBand;
  for (let i = 0; i < s.steps.length; i++) {
    const st = s.steps[i]!;
    const x0 = (st.start_ns - t0) * k;
    const x1 = (st.start_ns + st.dur_ns - t0) * k;
    if (x1 < 0 || x0 > areaW || x1 - x0 < MIN_BAND_PX) continue;
    ctx.globalAlpha = i % 2 ? 0.5 : 1;
    ctx.fillRect(x0, AXIS_H, x1 - x0, height - AXIS_H);
  }
  ctx.globalAlpha = 1;
  // Grid lines.
  ctx.fillStyle = colors.grid;
  for (const t of ticks.ticks) ctx.fillRect(Math.round(tNsToPx(vp, t.t_ns)), AXIS_H, 1, height - AXIS_H);
  // Host/group header backgrounds and track separators.
  const top = s.scrollY;
  const bottom = s.scrollY + height - AXIS_H;
  for (const it of s.layout.items) {
    if (it.y + it.h < top || it.y > bottom) continue;
    const y = it.y - s.scrollY + AXIS_H;
    if (it.kind === "host") {
      ctx.fillStyle = colors.hostBg;
      ctx.fillRect(0, y, areaW, it.h);
    } else if (it.kind === "group") {
      ctx.fillStyle = colors.groupBg;
      ctx.fillRect(0, y, areaW, it.h);
    } else {
      ctx.fillStyle = colors.grid;
      ctx.fillRect(0, y + it.h - 1, areaW, 1);
    }
  }
  // Slices.
  if (s.index) {
    stats.slices += drawSlices(ctx, s, k, stats);
  }
  ctx.restore();

  // ---- gutter ----
  ctx.fillStyle = colors.gutter;
  ctx.fillRect(0, AXIS_H, GUTTER_W, height - AXIS_H);
  ctx.fillStyle = colors.grid;
  ctx.fillRect(GUTTER_W - 1, 0, 1, height);
  ctx.save();
  ctx.beginPath();
  ctx.rect(0, AXIS_H, GUTTER_W - 1, height - AXIS_H);
  ctx.clip();
  ctx.textBaseline = "middle";
  for (const it of s.layout.items) {
    if (it.y + it.h < top || it.y > bottom) continue;
    const y = it.y - s.scrollY + AXIS_H;
    const x = 8 + it.indent * 12;
    if (it.kind !== "track") {
      ctx.fillStyle = it.kind === "host" ? colors.hostBg : colors.groupBg;
      ctx.fillRect(0, y, GUTTER_W - 1, it.h);
    }
    ctx.fillStyle = it.kind === "track" ? colors.fg : colors.fg;
    ctx.font = it.kind === "track" ? FONT : BOLD;
    const arrow = it.collapsible ? (it.collapsed ? "▸ " : "▾ ") : "  ";
    const labelY = it.kind === "track" ? y + TRACK_PAD + ROW_H / 2 : y + it.h / 2;
    ctx.fillText(arrow + fitLabel(it.label, GUTTER_W - x - 4, charWidth(ctx)), x, labelY);
    if (it.kind === "track" && it.track) {
      const c = s.counts.get(it.track.id);
      if (c && (it.rows ?? 1) > 1) {
        ctx.fillStyle = colors.muted;
        ctx.font = FONT;
        const txt = c.returned < c.in_window ? `${formatCount(c.returned)} of ${formatCount(c.in_window)}` : `${formatCount(c.in_window)} events`;
        ctx.fillText(txt, x + 14, labelY + ROW_H);
      }
      ctx.fillStyle = colors.grid;
      ctx.fillRect(0, y + it.h - 1, GUTTER_W - 1, 1);
    }
  }
  ctx.restore();

  // ---- axis ----
  ctx.fillStyle = colors.axis;
  ctx.fillRect(0, 0, width, AXIS_H);
  ctx.fillStyle = colors.grid;
  ctx.fillRect(0, AXIS_H - 1, width, 1);
  ctx.save();
  ctx.beginPath();
  ctx.rect(GUTTER_W, 0, areaW, AXIS_H);
  ctx.clip();
  ctx.font = FONT;
  ctx.textBaseline = "top";
  for (const t of ticks.ticks) {
    const x = GUTTER_W + Math.round(tNsToPx(vp, t.t_ns));
    ctx.fillStyle = colors.muted;
    ctx.fillRect(x, AXIS_H - 7, 1, 6);
    // A label the right edge would cut ("10.") is left out: its tick mark still shows.
    if (x - GUTTER_W + 3 + ctx.measureText(t.label).width > areaW) continue;
    ctx.fillStyle = colors.fg;
    ctx.fillText(t.label, x + 3, 3);
    stats.axis.labels.push(t.label);
  }
  stats.axis.caption = ticks.caption;
  drawStepMarkers(ctx, s.steps, t0, k, areaW, colors.accent);
  if (stats.selected) {
    // The selected slice (a search hit) marked on the axis too, so it is found
    // even when its track is scrolled out of view.
    const x0 = Math.max(stats.selected.x0, 0);
    const x1 = Math.min(stats.selected.x1, areaW);
    const w = Math.max(6, x1 - x0);
    ctx.fillStyle = colors.accent;
    ctx.fillRect(GUTTER_W + (x0 + x1) / 2 - w / 2, AXIS_H - 4, w, 3);
  }
  ctx.restore();
  ctx.fillStyle = colors.muted;
  ctx.font = FONT;
  ctx.textBaseline = "middle";
  ctx.fillText(ticks.caption, 8, AXIS_H / 2); // what the tick labels count from

  // ---- vertical scrollbar ----
  const viewH = height - AXIS_H;
  if (s.layout.totalHeight > viewH) {
    const thumbH = Math.max(24, (viewH * viewH) / s.layout.totalHeight);
    const thumbY = AXIS_H + (s.scrollY / (s.layout.totalHeight - viewH)) * (viewH - thumbH);
    ctx.fillStyle = colors.muted;
    ctx.globalAlpha = 0.45;
    ctx.fillRect(width - 6, thumbY, 4, thumbH);
    ctx.globalAlpha = 1;
  }
  return stats;
}

/**
 * Step markers under the axis: a triangle per step where they are at least
 * MIN_MARKER_GAP_PX apart on average, else a 1-px tick per pixel column (a
 * profile of 30k steps seen whole would otherwise fill 30k paths per frame),
 * and a "step N" label wherever the previous one leaves room.
 */
function drawStepMarkers(ctx: CanvasRenderingContext2D, steps: readonly StepMarker[], t0: number, k: number, areaW: number, color: string): void {
  const xs: number[] = [];
  const idx: number[] = [];
  for (let i = 0; i < steps.length; i++) {
    const x = GUTTER_W + (steps[i]!.start_ns - t0) * k;
    if (x < GUTTER_W - 1 || x > GUTTER_W + areaW) continue;
    xs.push(x);
    idx.push(i);
  }
  if (!xs.length) return;
  ctx.fillStyle = color;
  if (xs.length * MIN_MARKER_GAP_PX <= areaW) {
    ctx.beginPath(); // one path, one fill for every triangle
    for (const x of xs) {
      ctx.moveTo(x, AXIS_H - 1);
      ctx.lineTo(x - 4, AXIS_H - 7);
      ctx.lineTo(x + 4, AXIS_H - 7);
      ctx.closePath();
    }
    ctx.fill();
  } else {
    ctx.globalAlpha = 0.6;
    let lastPx = -1;
    for (const x of xs) {
      const px = Math.round(x);
      if (px === lastPx) continue;
      lastPx = px;
      ctx.fillRect(px, AXIS_H - 5, 1, 4);
    }
    ctx.globalAlpha = 1;
  }
  ctx.textBaseline = "bottom";
  const cw = charWidth(ctx);
  let lastLabelEnd = -Infinity;
  for (let j = 0; j < xs.length; j++) {
    const x = xs[j]!;
    if (x <= lastLabelEnd + 4) continue;
    const label = `step ${steps[idx[j]!]!.step}`;
    ctx.fillText(label, x + 5, AXIS_H - 2);
    lastLabelEnd = x + 5 + label.length * cw;
  }
}

function drawSlices(ctx: CanvasRenderingContext2D, s: TimelineScene, k: number, stats: DrawStats): number {
  const index = s.index!;
  const { start, dur, name, id } = index.data;
  const t0 = s.viewport.window.t0_ns;
  const t1 = s.viewport.window.t1_ns;
  const areaW = s.viewport.width_px;
  const palette = s.colors.dark ? PALETTE_DARK : PALETTE_LIGHT;
  const cw = charWidth(ctx);
  // Rects bucketed by palette colour, drawn with one fillStyle per colour.
  const rects = RECTS;
  for (let c = 0; c < PALETTE_SIZE; c++) rects[c]!.length = 0;
  // Name index -> palette slot, computed once per string per frame.
  const colorOf = new Int16Array(index.data.strings.length).fill(-1);
  const labels: { x: number; y: number; text: string }[] = [];
  let selRect: [number, number, number, number] | null = null;
  let hoverRect: [number, number, number, number] | null = null;
  let drawn = 0;
  const top = s.scrollY;
  const bottom = s.scrollY + s.height - AXIS_H;

  for (const [trackId, it] of s.layout.tracks) {
    if (it.y + it.h < top || it.y > bottom) continue;
    const rows = it.rows ?? 1;
    for (let d = 0; d < rows; d++) {
      const row = index.row(trackId, d);
      if (!row) continue;
      const y = it.y - s.scrollY + AXIS_H + TRACK_PAD + d * ROW_H;
      if (y + ROW_H < AXIS_H || y > s.height) continue;
      const h = ROW_H - 2;
      let runX0 = 0;
      let runX1 = -Infinity;
      let runColor = -1;
      const flush = () => {
        if (runColor >= 0 && runX1 > -Infinity) {
          rects[runColor]!.push(runX0, y, Math.max(1, runX1 - runX0), h);
          stats.rects++;
        }
        runColor = -1;
        runX1 = -Infinity;
      };
      const order = row.order;
      const base = row.base;
      const len = row.starts.length;
      for (let j = index.firstVisible(row, t0); j < len; j++) {
        const i = order ? order[j]! : base + j;
        const st = start[i]!;
        if (st > t1) break;
        const en = st + dur[i]!;
        if (en < t0) continue;
        drawn++;
        let x0 = (st - t0) * k;
        let x1 = (en - t0) * k;
        if (x0 < -2) x0 = -2;
        if (x1 > areaW + 2) x1 = areaW + 2;
        const nm = name[i]!;
        let c = colorOf[nm]!;
        if (c < 0) c = colorOf[nm] = paletteIndex(index.data.strings[nm] ?? "");
        const w = x1 - x0;
        if (w < 2) {
          // Sub-pixel slices: one rect per pixel column, coloured by the first
          // slice in it, so dense regions keep their texture at 1 px.
          const px = Math.floor(x0);
          if (runColor >= 0 && (px <= runX1 - 1 || (runColor === c && px <= runX1 + 0.5))) {
            // Same pixel column, or the next one in the same colour: extend.
            if (x1 > runX1) runX1 = x1;
            if (px + 1 > runX1) runX1 = px + 1;
          } else {
            flush();
            runColor = c;
            runX0 = px;
            runX1 = Math.max(x1, px + 1);
          }
        } else {
          flush();
          rects[c]!.push(x0, y, w - (w > 4 ? 1 : 0), h);
          stats.rects++;
          if (w >= MIN_LABEL_PX) {
            const text = fitLabel(index.data.strings[nm] ?? "", Math.min(w, areaW - Math.max(x0, 0)), cw);
            if (text) labels.push({ x: Math.max(x0, 0) + 3, y: y + h / 2 + 0.5, text });
          }
        }
        if (s.selectedId !== null && id[i] === s.selectedId) selRect = [x0, y, Math.max(2, w), h];
        if (i === s.hoverIndex) hoverRect = [x0, y, Math.max(2, w), h];
      }
      flush();
    }
  }
  for (let c = 0; c < PALETTE_SIZE; c++) {
    const r = rects[c]!;
    if (!r.length) continue;
    ctx.fillStyle = palette[c]!;
    for (let k = 0; k < r.length; k += 4) ctx.fillRect(r[k]!, r[k + 1]!, r[k + 2]!, r[k + 3]!);
  }
  ctx.font = FONT;
  ctx.textBaseline = "middle";
  ctx.fillStyle = s.colors.sliceText;
  for (const l of labels) ctx.fillText(l.text, l.x, l.y);
  stats.labels = labels.length;
  if (hoverRect) {
    ctx.strokeStyle = s.colors.fg;
    ctx.lineWidth = 1;
    ctx.strokeRect(hoverRect[0] + 0.5, hoverRect[1] + 0.5, hoverRect[2] - 1, hoverRect[3] - 1);
  }
  if (selRect) {
    // A guide line down the whole area makes a narrow selection easy to find.
    const cx = Math.round(selRect[0] + selRect[2] / 2);
    ctx.fillStyle = s.colors.accent;
    ctx.globalAlpha = 0.35;
    ctx.fillRect(cx, AXIS_H, 1, s.height - AXIS_H);
    ctx.globalAlpha = 1;
    ctx.strokeStyle = s.colors.accent;
    ctx.lineWidth = 2;
    const w = Math.max(4, selRect[2]);
    ctx.strokeRect(cx - w / 2 - 1, selRect[1] - 1, w + 2, selRect[3] + 2);
    stats.selected = { x0: selRect[0], x1: selRect[0] + selRect[2], y: selRect[1] };
  }
  return drawn;
}
