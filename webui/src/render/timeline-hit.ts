// What is under a point of the canvas, given the layout, the loaded slices and
// the frame's transform. Pure: screen px in (a pointer's offset in the canvas),
// a slice, a row header or a step out. The inverse of what timeline-renderer.ts
// draws, through the same transform (lib/transform's contentToScreen).

import type { StepMarker } from "../api/wire";
import { invert, mapAxis, type Affine, type Point } from "../lib/transform";
import type { TimelineIndex } from "./timeline-index";
import { AXIS_H, GUTTER_W, depthAt, itemAt, type LayoutItem, type TimelineLayout } from "./timeline-layout";

/** How close (px) a pointer must come to a slice narrower than a pixel to pick it. */
export const HIT_SLOP_PX = 3;

/**
 * Where a screen point falls: the time axis over the slices, its corner over
 * the track names (the caption), the track names (gutter), or the slices.
 */
export type Region = "axis" | "caption" | "gutter" | "slices";

export function regionAt(screen: Point): Region {
  if (screen.y < AXIS_H) return screen.x < GUTTER_W ? "caption" : "axis";
  return screen.x < GUTTER_W ? "gutter" : "slices";
}

/** The layout item (host, group or track header row) at a screen y, or null. */
export function itemAtScreen(layout: TimelineLayout, toScreen: Affine, y: number): LayoutItem | null {
  return itemAt(layout, mapAxis(invert(toScreen).y, y));
}

/** Index (into the loaded data) of the slice drawn at a screen point, or -1. */
export function sliceAt(layout: TimelineLayout, index: TimelineIndex | null, toScreen: Affine, screen: Point): number {
  if (!index || regionAt(screen) !== "slices") return -1;
  const back = invert(toScreen);
  const content_y = mapAxis(back.y, screen.y);
  const it = itemAt(layout, content_y);
  if (!it?.track) return -1;
  const d = depthAt(it, content_y);
  if (d < 0) return -1;
  const t_ns = mapAxis(back.x, screen.x);
  return index.hitTest(it.track.id, d, t_ns, HIT_SLOP_PX * back.x.scale);
}

/** The step whose span holds t_ns (ends included), or undefined. */
export function stepAt(steps: readonly StepMarker[], t_ns: number): StepMarker | undefined {
  return steps.find((s) => t_ns >= s.start_ns && t_ns <= s.start_ns + s.dur_ns);
}
