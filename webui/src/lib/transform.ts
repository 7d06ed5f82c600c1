// Coordinate spaces of the timeline, named after their unit:
//   t_ns       time in nanoseconds from the profile's start (the API's axis)
//   px         CSS pixels from the left edge of the slice area
//   content_y  CSS pixels from the top of the first row (the layout's y; scrolls)
//   screen     CSS pixels from the canvas' top-left corner (what a pointer event gives):
//              the slice area starts `left_px` in, the rows `top_px` down
// Conversions go through one kind of map, an axis-aligned affine `Affine`:
// (t_ns, content_y) -> screen is `contentToScreen`, px = (t_ns - t0_ns) * pxPerNs
// is its time axis (`timeToPx`), and the inverse maps a pointer back. Everything
// that pans or zooms goes through the functions here.

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

/**
 * One axis of an affine map, written about an origin: out = out0 + (in - in0) * scale.
 * The origin form keeps precision where it matters: for t_ns near 1e12,
 * (t - t0) * k is exact to the pixel where k * t + c is not. `inv` is the
 * inverse scale as the caller computed it (span / width, not 1 / scale), so a
 * map and its inverse are each as exact as the direct formula.
 */
export interface Axis {
  in0: number;
  out0: number;
  scale: number;
  inv: number;
}

/** A point in one named space (which one is in the variable's name). */
export interface Point {
  x: number;
  y: number;
}

/** An axis-aligned affine map between two named spaces (a timeline never rotates or shears). */
export interface Affine {
  x: Axis;
  y: Axis;
}

/** A shift by `offset`: out = in + offset. */
export function shift(offset: number): Axis {
  return { in0: 0, out0: offset, scale: 1, inv: 1 };
}

export function mapAxis(a: Axis, v: number): number {
  return a.out0 + (v - a.in0) * a.scale;
}

export function invertAxis(a: Axis): Axis {
  return { in0: a.out0, out0: a.in0, scale: a.inv, inv: a.scale };
}

/** `a`, then `b`. */
export function thenAxis(a: Axis, b: Axis): Axis {
  return { in0: a.in0, out0: b.out0 + (a.out0 - b.in0) * b.scale, scale: a.scale * b.scale, inv: a.inv * b.inv };
}

export function apply(m: Affine, p: Point): Point {
  return { x: mapAxis(m.x, p.x), y: mapAxis(m.y, p.y) };
}

export function invert(m: Affine): Affine {
  return { x: invertAxis(m.x), y: invertAxis(m.y) };
}

/** Where the slice area and the rows sit on the canvas, and how far the rows are scrolled. */
export interface ScreenFrame {
  /** Screen x of the slice area's left edge (the track-name gutter's width). */
  left_px: number;
  /** Screen y of the rows' top edge (the time axis' height). */
  top_px: number;
  /** content_y shown at top_px. */
  scrollY: number;
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

/** t_ns -> px in the slice area: the time axis of every frame. */
export function timeToPx(vp: Viewport): Axis {
  return { in0: vp.window.t0_ns, out0: 0, scale: pxPerNs(vp), inv: nsPerPx(vp) };
}

/** (t_ns, content_y) -> screen px: the one transform from the timeline to the canvas. */
export function contentToScreen(vp: Viewport, f: ScreenFrame): Affine {
  return { x: thenAxis(timeToPx(vp), shift(f.left_px)), y: { in0: f.scrollY, out0: f.top_px, scale: 1, inv: 1 } };
}

export function tNsToPx(vp: Viewport, t_ns: number): number {
  return mapAxis(timeToPx(vp), t_ns);
}

export function pxToTNs(vp: Viewport, px: number): number {
  return mapAxis(invertAxis(timeToPx(vp)), px);
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
