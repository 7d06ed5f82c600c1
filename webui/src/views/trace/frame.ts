// One frame of the timeline: ask for its data, draw it, record the repaint
// marks, and publish what was drawn as the canvas' data-* attributes for the
// end-to-end tests and tools (webui/e2e-notes.md is the contract; the names are
// camelCase dataset keys). `frameAttrs` is the pure part: the frame in, an
// ordered list of [key, value or null (remove)] out.

import type { StepMarker } from "../../api/wire";
import type { TimelineData } from "../../api/timeline-decode";
import { fitCanvas } from "../../render/canvas";
import type { TimelineLayout } from "../../render/timeline-layout";
import { drawTimeline, type DrawStats, type TimelineColors } from "../../render/timeline-renderer";
import type { Inspector } from "./inspector";
import type { TraceData } from "./trace-data";
import type { TraceViewport } from "./viewport";

export type Attrs = [key: string, value: string | null][];

export interface Frame {
  stats: DrawStats;
  drawMs: number;
  view: TraceViewport;
  layout: TimelineLayout;
  steps: readonly StepMarker[];
  /** The window the loader wants next. */
  plan: { start_ns: number; end_ns: number };
  requests: { requests: number; aborted: number };
  loaded: boolean;
  selectedId: number | null;
}

/** At most this many step bands are listed. */
const MAX_BANDS = 64;

export function frameAttrs(f: Frame): Attrs {
  const v = f.view;
  const sel = f.stats.selected;
  // Tracks wholly on screen (content_y within the rows' view).
  const top = v.scrollY;
  const bottom = v.scrollY + v.rowsH;
  const onScreen = [...f.layout.tracks.entries()].filter(([, it]) => it.y >= top && it.y + it.h <= bottom).map(([id]) => id);
  return [
    ["t0", String(Math.round(v.window.t0_ns))],
    ["t1", String(Math.round(v.window.t1_ns))],
    ["slices", String(f.stats.slices)],
    ["drawMs", f.drawMs.toFixed(2)],
    ["planStart", String(f.plan.start_ns)],
    ["planEnd", String(f.plan.end_ns)],
    ["requests", String(f.requests.requests)],
    ["aborted", String(f.requests.aborted)],
    ["loaded", f.loaded ? "1" : "0"],
    // Where the selected slice (a search hit) was drawn, px in the slice area.
    ["selX0", sel ? sel.x0.toFixed(1) : null],
    ["selX1", sel ? sel.x1.toFixed(1) : null],
    ["selId", sel ? String(f.selectedId) : null],
    ["areaWidth", String(v.viewport().width_px)],
    ["onScreenTracks", onScreen.join(",")],
    ["stepBands", f.steps.slice(0, MAX_BANDS).map((st) => `${st.start_ns}:${st.start_ns + st.dur_ns}`).join(",")],
    ["tickLabels", f.stats.axis.labels.join("|")],
    ["axisCaption", f.stats.axis.caption],
  ];
}

/** The response on screen: its window and width. */
export function dataAttrs(d: TimelineData): Attrs {
  return [["reqStart", String(d.start_ns)], ["reqEnd", String(d.end_ns)], ["reqWidth", String(d.width)]];
}

export function writeAttrs(ds: DOMStringMap, attrs: Attrs): void {
  for (const [k, v] of attrs) {
    if (v === null) delete ds[k];
    else ds[k] = v;
  }
}

/** Draw the current view on the canvas and publish what was drawn. */
export function drawFrame(canvas: HTMLCanvasElement, view: TraceViewport, layout: TimelineLayout, steps: readonly StepMarker[],
  data: TraceData, inspector: Inspector, colors: TimelineColors): void {
  const plan = data.request(view, layout);
  const t0 = performance.now();
  const ctx = fitCanvas(canvas, view.size.w, view.size.h);
  const stats = drawTimeline(ctx, {
    width: view.size.w, height: view.size.h, viewport: view.viewport(), scrollY: view.scrollY, layout,
    index: data.index, steps, hoverIndex: inspector.hoverIndex, selectedId: inspector.selectedId,
    counts: data.countsByTrack, colors,
  });
  const drawMs = performance.now() - t0;
  data.drawn(t0, drawMs);
  writeAttrs(canvas.dataset, frameAttrs({
    stats, drawMs, view, layout, steps, plan, requests: data.stats, loaded: !!data.index, selectedId: inspector.selectedId,
  }));
}
