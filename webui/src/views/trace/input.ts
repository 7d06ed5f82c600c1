// What a wheel turn, a drag or a key does to the view: pure functions from an
// input (screen px, key names) and the viewport to a new window or scroll.
// pan-zoom-view.ts feeds them DOM events and applies what they return.
//
// Wheel: zoom around the cursor; Shift+wheel or a horizontal swipe pans; over
// the track names (or with Alt) it scrolls the rows. Drag pans both ways, or
// drags the scrollbar. W/S zoom and A/D pan while held; arrows, PageUp/Down
// and 0 step.

import {
  invert, mapAxis, panByNs, panByPx, spanNs, wheelZoomFactor, zoomAt, type TimeWindow,
} from "../../lib/transform";
import { GUTTER_W } from "../../render/timeline-layout";
import type { TraceViewport } from "./viewport";

/** What one input does: show a window, or scroll the rows (content px). */
export type ViewAction = { window: TimeWindow } | { scrollBy: number } | { scrollTo: number };

export const KEY_ZOOM_PER_S = 3.0; // e-folds of span per second while W/S is held
export const KEY_PAN_PER_S = 0.9; // spans per second while A/D is held
/** Keys that act while held (their effect grows with the time held). */
export const HELD_KEYS: ReadonlySet<string> = new Set(["w", "a", "s", "d"]);
/** Pointer travel (px, |dx| + |dy|) under which a press is a click, not a drag. */
export const CLICK_SLOP_PX = 3;
/** Width of the scrollbar's grab zone at the canvas' right edge, px. */
export const SCROLLBAR_W = 10;

export interface WheelInput {
  /** Screen px. */
  x: number;
  deltaX: number;
  deltaY: number;
  deltaMode: number;
  shiftKey: boolean;
  altKey: boolean;
}

export function wheelAction(e: WheelInput, v: TraceViewport): ViewAction {
  if (e.x < GUTTER_W || e.altKey) return { scrollBy: e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY };
  if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
    const d = e.shiftKey && !e.deltaX ? e.deltaY : e.deltaX;
    return { window: panByPx(v.viewport(), d, v.bounds) };
  }
  const anchor_ns = mapAxis(invert(v.toScreen()).x, e.x);
  return { window: zoomAt(v.window, anchor_ns, wheelZoomFactor(e.deltaY, e.deltaMode), v.bounds) };
}

/** A press: where it started (screen px) and what the view was then. */
export interface Drag {
  x: number;
  y: number;
  window: TimeWindow;
  scrollY: number;
  moved: boolean;
  mode: "pan" | "scroll";
}

export function startDrag(x: number, y: number, v: TraceViewport): Drag {
  const onScrollbar = x > v.size.w - SCROLLBAR_W && v.scrollable;
  return { x, y, window: v.window, scrollY: v.scrollY, moved: false, mode: onScrollbar ? "scroll" : "pan" };
}

/** Whether the pointer at (x, y) has left the click slop of the press: from then on it is a drag. */
export function pastSlop(d: Drag, x: number, y: number): boolean {
  return Math.abs(x - d.x) + Math.abs(y - d.y) > CLICK_SLOP_PX;
}

/**
 * The pointer is at (x, y) during a drag. Panning moves the content with the
 * pointer both ways; the scrollbar moves the rows by the content height per
 * screen of travel.
 */
export function dragActions(d: Drag, x: number, y: number, v: TraceViewport): ViewAction[] {
  const dx = x - d.x;
  const dy = y - d.y;
  if (d.mode === "scroll") return [{ scrollTo: d.scrollY + (dy * v.contentHeight) / v.rowsH }];
  const vp = { window: d.window, width_px: v.viewport().width_px };
  return [{ window: panByPx(vp, -dx, v.bounds) }, { scrollTo: d.scrollY - dy }];
}

/** A key that steps the view once (arrows, PageUp/PageDown, 0), or null. */
export function stepKeyAction(key: string, v: TraceViewport): ViewAction | null {
  const w = v.window;
  switch (key) {
    case "ArrowUp": return { scrollBy: -40 };
    case "ArrowDown": return { scrollBy: 40 };
    case "PageUp": return { scrollBy: -v.rowsH * 0.9 };
    case "PageDown": return { scrollBy: v.rowsH * 0.9 };
    case "ArrowLeft": return { window: panByNs(w, -spanNs(w) * 0.2, v.bounds) };
    case "ArrowRight": return { window: panByNs(w, spanNs(w) * 0.2, v.bounds) };
    case "0": return { window: v.full() };
    default: return null;
  }
}

/** Seconds to apply held keys for: since the last frame, at most 50 ms (a stalled tab does not jump). */
export function heldDt(now_ms: number, last_ms: number): number {
  return Math.min(0.05, Math.max(0, (now_ms - last_ms) / 1000));
}

/**
 * The window after holding W/A/S/D for dt seconds: zoom around the pointer (the
 * window's middle when the pointer is off the slice area), pan by a share of
 * the span.
 */
export function heldKeysWindow(keys: ReadonlySet<string>, dt_s: number, v: TraceViewport, mouseX: number | null): TimeWindow {
  let w = v.window;
  const anchor = mouseX !== null && mouseX >= GUTTER_W ? mapAxis(invert(v.toScreen()).x, mouseX) : (w.t0_ns + w.t1_ns) / 2;
  if (keys.has("w")) w = zoomAt(w, anchor, Math.exp(-KEY_ZOOM_PER_S * dt_s), v.bounds);
  if (keys.has("s")) w = zoomAt(w, anchor, Math.exp(KEY_ZOOM_PER_S * dt_s), v.bounds);
  if (keys.has("a")) w = panByNs(w, -spanNs(w) * KEY_PAN_PER_S * dt_s, v.bounds);
  if (keys.has("d")) w = panByNs(w, spanNs(w) * KEY_PAN_PER_S * dt_s, v.bounds);
  return w;
}
