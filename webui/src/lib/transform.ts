// Coordinate spaces of the timeline, named after their unit:
//   t_ns  time in nanoseconds from the profile's start (the API's axis)
//   px    CSS pixels from the left edge of the slice area
// One affine map converts between them: px = (t_ns - t0_ns) * pxPerNs.
// Everything that pans or zooms goes through the functions here.

export interface TimeWindow {
  t0_ns: number;
  t1_ns: number;
}

export interface Bounds {
  start_ns: number;
  end_ns: number;
}

/** The visible window and the width (CSS px) it is drawn into. */
export interface Viewport {
  window: TimeWindow;
  width_px: number;
}

/** Smallest window a user can zoom into. */
export const MIN_SPAN_NS = 10;

export function spanNs(w: TimeWindow): number {
  return w.t1_ns - w.t0_ns;
}

export function pxPerNs(vp: Viewport): number {
  const s = spanNs(vp.window);
  return s > 0 ? vp.width_px / s : 0;
}

export function nsPerPx(vp: Viewport): number {
  return vp.width_px > 0 ? spanNs(vp.window) / vp.width_px : 0;
}

export function tNsToPx(vp: Viewport, t_ns: number): number {
  return (t_ns - vp.window.t0_ns) * pxPerNs(vp);
}

export function pxToTNs(vp: Viewport, px: number): number {
  return vp.window.t0_ns + px * nsPerPx(vp);
}

/** Duration in ns to a width in px. */
export function durNsToPx(vp: Viewport, dur_ns: number): number {
  return dur_ns * pxPerNs(vp);
}

/**
 * Keep a window inside the bounds, at least `minSpan` wide, and no wider than
 * the bounds. A window that sticks out on one side is shifted, not cut, so
 * panning into an edge keeps the zoom level.
 */
export function clampWindow(w: TimeWindow, b: Bounds, minSpan = MIN_SPAN_NS): TimeWindow {
  const full = b.end_ns - b.start_ns;
  let span = Math.max(spanNs(w), Math.min(minSpan, full));
  if (!(span > 0)) span = full > 0 ? full : 1;
  if (span >= full) return { t0_ns: b.start_ns, t1_ns: b.end_ns };
  let t0 = w.t0_ns;
  // Re-centre when growing to the minimum span.
  if (span !== spanNs(w)) t0 = (w.t0_ns + w.t1_ns) / 2 - span / 2;
  if (t0 < b.start_ns) t0 = b.start_ns;
  if (t0 + span > b.end_ns) t0 = b.end_ns - span;
  return { t0_ns: t0, t1_ns: t0 + span };
}

/**
 * Zoom around an anchor time that stays at the same pixel. `factor` < 1 zooms
 * in (the span shrinks by that factor), > 1 zooms out.
 */
export function zoomAt(w: TimeWindow, anchor_ns: number, factor: number, b: Bounds, minSpan = MIN_SPAN_NS): TimeWindow {
  const span = spanNs(w);
  const newSpan = Math.max(span * factor, minSpan);
  const frac = span > 0 ? (anchor_ns - w.t0_ns) / span : 0.5;
  const t0 = anchor_ns - frac * newSpan;
  return clampWindow({ t0_ns: t0, t1_ns: t0 + newSpan }, b, minSpan);
}

/** Shift the window by a duration (positive: later). */
export function panByNs(w: TimeWindow, delta_ns: number, b: Bounds): TimeWindow {
  return clampWindow({ t0_ns: w.t0_ns + delta_ns, t1_ns: w.t1_ns + delta_ns }, b);
}

/** Shift the window by a pixel distance (positive: content moves left, view moves later). */
export function panByPx(vp: Viewport, delta_px: number, b: Bounds): TimeWindow {
  return panByNs(vp.window, delta_px * nsPerPx(vp), b);
}

/** Zoom factor for one wheel event; deltaY > 0 (scroll down) zooms out. */
export function wheelZoomFactor(deltaY: number, deltaMode = 0): number {
  const px = deltaMode === 1 ? deltaY * 16 : deltaMode === 2 ? deltaY * 400 : deltaY;
  const clamped = Math.max(-400, Math.min(400, px));
  return Math.exp(clamped * 0.002);
}

/**
 * A window that shows [start, start+dur] with some context: keeps the current
 * span when the slice fits comfortably, otherwise zooms out so the slice takes
 * about `fill` of the view. The slice is centred.
 */
export function windowAround(current: TimeWindow, start_ns: number, dur_ns: number, b: Bounds, fill = 0.5): TimeWindow {
  let span = spanNs(current);
  if (dur_ns > span * 0.8 || span <= 0) span = Math.max(dur_ns / fill, MIN_SPAN_NS);
  const mid = start_ns + dur_ns / 2;
  return clampWindow({ t0_ns: mid - span / 2, t1_ns: mid + span / 2 }, b);
}

/** Zoom so that [start, start+dur] fills the view with a small margin. */
export function windowFit(start_ns: number, dur_ns: number, b: Bounds, margin = 0.1): TimeWindow {
  const span = Math.max(dur_ns * (1 + 2 * margin), MIN_SPAN_NS);
  const mid = start_ns + dur_ns / 2;
  return clampWindow({ t0_ns: mid - span / 2, t1_ns: mid + span / 2 }, b);
}

export function sameWindow(a: TimeWindow, b: TimeWindow, eps = 0.5): boolean {
  return Math.abs(a.t0_ns - b.t0_ns) <= eps && Math.abs(a.t1_ns - b.t1_ns) <= eps;
}
