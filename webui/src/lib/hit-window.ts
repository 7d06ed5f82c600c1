// The window that shows one search hit: centred, and wide enough on screen to
// read. A 1.5 µs op found while a 60 ms window is shown would be a fraction of
// a pixel where windowAround leaves it, so the view zooms in until the hit is
// READABLE_PX wide (about 20 characters of its name), keeping the context of
// roughly ten times its duration around it; a hit wider than the view zooms out.

import { clampWindow, MIN_SPAN_NS, spanNs, type Bounds, type TimeWindow } from "./transform";

/** On-screen width a hit is zoomed to when it is narrower. */
export const READABLE_PX = 120;
/** Narrowest window for a hit: an instant (0 ns) event still shows its neighbours. */
export const HIT_MIN_SPAN_NS = 1000;

export function windowForHit(current: TimeWindow, start_ns: number, dur_ns: number, width_px: number, b: Bounds): TimeWindow {
  let span = spanNs(current);
  const w = Math.max(1, width_px);
  if (span <= 0 || (dur_ns * w) / span < READABLE_PX) span = (Math.max(dur_ns, 1) * w) / READABLE_PX;
  if (dur_ns > span * 0.8) span = dur_ns / 0.5;
  span = Math.max(span, HIT_MIN_SPAN_NS, MIN_SPAN_NS);
  const mid = start_ns + dur_ns / 2;
  return clampWindow({ t0_ns: mid - span / 2, t1_ns: mid + span / 2 }, b);
}
