import { describe, expect, it } from "vitest";
import { spanNs, tNsToPx, wheelZoomFactor, type TimeWindow } from "../../lib/transform";
import { GUTTER_W } from "../../render/timeline-layout";
import {
  dragActions, heldDt, heldKeysWindow, KEY_PAN_PER_S, KEY_ZOOM_PER_S, pastSlop, startDrag, stepKeyAction, wheelAction, type ViewAction,
} from "./input";
import { TraceViewport } from "./viewport";

/** Slice area 1000 px wide (screen x 220..1220) showing [1000, 3000] ns of [0, 1e6]; rows 600 px high of 2000. */
function view(): TraceViewport {
  const v = new TraceViewport();
  v.setBounds({ start_ns: 0, end_ns: 1_000_000 });
  v.resize(GUTTER_W + 1000, 628);
  v.contentHeight = 2000;
  v.setWindow({ t0_ns: 1000, t1_ns: 3000 });
  return v;
}

const wheel = (x: number, deltaY: number, more: Partial<{ deltaX: number; deltaMode: number; shiftKey: boolean; altKey: boolean }> = {}) =>
  ({ x, deltaY, deltaX: 0, deltaMode: 0, shiftKey: false, altKey: false, ...more });
const win = (a: ViewAction | null): TimeWindow => (a && "window" in a ? a.window : { t0_ns: NaN, t1_ns: NaN });

describe("wheel", () => {
  it("zooms around the time under the cursor", () => {
    const v = view();
    const x = GUTTER_W + 250; // 1500 ns
    const w = win(wheelAction(wheel(x, -300), v));
    expect(spanNs(w)).toBeCloseTo(2000 * wheelZoomFactor(-300), 6);
    expect(spanNs(w)).toBeLessThan(2000);
    // The time under the cursor stays under the cursor.
    expect(GUTTER_W + tNsToPx({ window: w, width_px: 1000 }, 1500)).toBeCloseTo(x, 9);
    expect(spanNs(win(wheelAction(wheel(x, 300), v)))).toBeGreaterThan(2000);
  });

  it("scrolls the rows over the track names or with Alt, in pixels or lines", () => {
    const v = view();
    expect(wheelAction(wheel(GUTTER_W - 1, 120), v)).toEqual({ scrollBy: 120 });
    expect(wheelAction(wheel(600, 3, { deltaMode: 1, altKey: true }), v)).toEqual({ scrollBy: 48 });
  });

  it("pans with Shift or a horizontal swipe, content following the fingers", () => {
    const v = view();
    expect(win(wheelAction(wheel(600, 100, { shiftKey: true }), v))).toEqual({ t0_ns: 1200, t1_ns: 3200 });
    expect(win(wheelAction(wheel(600, 5, { deltaX: -50 }), v))).toEqual({ t0_ns: 900, t1_ns: 2900 });
  });
});

describe("drag", () => {
  it("is a click until the pointer leaves a 3 px slop", () => {
    const d = startDrag(500, 300, view());
    expect(pastSlop(d, 502, 301)).toBe(false);
    expect(pastSlop(d, 502, 302)).toBe(true);
  });

  it("pans the window and scrolls the rows with the pointer", () => {
    const v = view();
    v.scrollTo(400);
    const d = startDrag(500, 300, v);
    expect(d.mode).toBe("pan");
    // 100 px left = 200 ns later; 50 px up = 50 px further down the rows.
    expect(dragActions(d, 400, 250, v)).toEqual([{ window: { t0_ns: 1200, t1_ns: 3200 } }, { scrollTo: 450 }]);
    // Measured from the press, not from the last move.
    v.setWindow({ t0_ns: 1200, t1_ns: 3200 });
    expect(dragActions(d, 450, 300, v)).toEqual([{ window: { t0_ns: 1100, t1_ns: 3100 } }, { scrollTo: 400 }]);
  });

  it("drags the scrollbar at the right edge: one screen of travel is the content height", () => {
    const v = view();
    const d = startDrag(GUTTER_W + 995, 100, v);
    expect(d.mode).toBe("scroll");
    expect(dragActions(d, GUTTER_W + 995, 130, v)).toEqual([{ scrollTo: (30 * 2000) / 600 }]);
    v.contentHeight = 500; // nothing to scroll: no scrollbar, the edge pans
    expect(startDrag(GUTTER_W + 995, 100, v).mode).toBe("pan");
  });
});

describe("keys", () => {
  it("steps: arrows scroll and pan a fifth, pages scroll 90 % of the rows, 0 shows all", () => {
    const v = view();
    expect(stepKeyAction("ArrowDown", v)).toEqual({ scrollBy: 40 });
    expect(stepKeyAction("ArrowUp", v)).toEqual({ scrollBy: -40 });
    expect(stepKeyAction("PageDown", v)).toEqual({ scrollBy: 540 });
    expect(stepKeyAction("PageUp", v)).toEqual({ scrollBy: -540 });
    expect(stepKeyAction("ArrowRight", v)).toEqual({ window: { t0_ns: 1400, t1_ns: 3400 } });
    expect(stepKeyAction("ArrowLeft", v)).toEqual({ window: { t0_ns: 600, t1_ns: 2600 } });
    expect(stepKeyAction("0", v)).toEqual({ window: { t0_ns: 0, t1_ns: 1_000_000 } });
    expect(stepKeyAction("f", v)).toBeNull();
  });

  it("held W zooms in around the pointer, S out, at e^(3 dt)", () => {
    const v = view();
    const x = GUTTER_W + 750; // 2500 ns
    const w = heldKeysWindow(new Set(["w"]), 0.05, v, x);
    expect(spanNs(w)).toBeCloseTo(2000 * Math.exp(-KEY_ZOOM_PER_S * 0.05), 6);
    expect(GUTTER_W + tNsToPx({ window: w, width_px: 1000 }, 2500)).toBeCloseTo(x, 9);
    // Pointer over the track names (or off the canvas): around the middle.
    const mid = heldKeysWindow(new Set(["s"]), 0.05, v, null);
    expect((mid.t0_ns + mid.t1_ns) / 2).toBeCloseTo(2000, 6);
    expect(spanNs(mid)).toBeCloseTo(2000 * Math.exp(KEY_ZOOM_PER_S * 0.05), 6);
  });

  it("held A/D pan 0.9 spans a second; W and S together cancel", () => {
    const v = view();
    expect(heldKeysWindow(new Set(["d"]), 0.05, v, null).t0_ns).toBeCloseTo(1000 + 2000 * KEY_PAN_PER_S * 0.05, 6);
    expect(heldKeysWindow(new Set(["a"]), 0.05, v, null).t0_ns).toBeCloseTo(1000 - 2000 * KEY_PAN_PER_S * 0.05, 6);
    const both = heldKeysWindow(new Set(["w", "s"]), 0.05, v, 700);
    expect(both.t0_ns).toBeCloseTo(1000, 6);
    expect(both.t1_ns).toBeCloseTo(3000, 6);
  });

  it("applies held keys for the frame's time, at most 50 ms", () => {
    expect(heldDt(1016, 1000)).toBeCloseTo(0.016, 12);
    expect(heldDt(5000, 1000)).toBe(0.05);
    expect(heldDt(900, 1000)).toBe(0);
  });
});
