import { describe, expect, it } from "vitest";
import {
  apply, clampWindow, contentToScreen, durNsToPx, invert, invertAxis, mapAxis, nsPerPx, panByNs, panByPx, pxPerNs, pxToTNs, shift,
  spanNs, thenAxis, timeToPx, tNsToPx, wheelZoomFactor, windowAround, windowFit, zoomAt, type Axis, type Viewport,
} from "./transform";

const B = { start_ns: 0, end_ns: 1_000_000 };
const vp: Viewport = { window: { t0_ns: 1000, t1_ns: 3000 }, width_px: 1000 };

describe("t_ns <-> px", () => {
  it("maps the window edges to the area edges and back", () => {
    expect(tNsToPx(vp, 1000)).toBe(0);
    expect(tNsToPx(vp, 3000)).toBe(1000);
    expect(tNsToPx(vp, 2000)).toBe(500);
    expect(pxToTNs(vp, 250)).toBe(1500);
    expect(nsPerPx(vp)).toBe(2);
    expect(durNsToPx(vp, 100)).toBe(50);
    for (const t of [0, 1234.5, 99999]) expect(pxToTNs(vp, tNsToPx(vp, t))).toBeCloseTo(t, 9);
  });
});

describe("zoom and pan", () => {
  it("keeps the anchor at the same pixel when zooming", () => {
    const anchor = 1500;
    const before = tNsToPx(vp, anchor);
    const w = zoomAt(vp.window, anchor, 0.5, B);
    expect(spanNs(w)).toBe(1000);
    expect(tNsToPx({ ...vp, window: w }, anchor)).toBeCloseTo(before, 9);
  });

  it("zooming in then out by the inverse factor restores the window", () => {
    const w = zoomAt(zoomAt(vp.window, 2222, 0.3, B), 2222, 1 / 0.3, B);
    expect(w.t0_ns).toBeCloseTo(1000, 6);
    expect(w.t1_ns).toBeCloseTo(3000, 6);
  });

  it("never zooms below the minimum span nor past the bounds", () => {
    const tiny = zoomAt(vp.window, 2000, 1e-9, B);
    expect(spanNs(tiny)).toBe(10);
    const all = zoomAt(vp.window, 2000, 1e9, B);
    expect(all).toEqual({ t0_ns: 0, t1_ns: 1_000_000 });
  });

  it("pans by pixels and by ns, shifting (not shrinking) at the edges", () => {
    expect(panByPx(vp, 100, B)).toEqual({ t0_ns: 1200, t1_ns: 3200 });
    expect(panByNs(vp.window, -5000, B)).toEqual({ t0_ns: 0, t1_ns: 2000 });
    expect(panByNs({ t0_ns: 998_000, t1_ns: 999_000 }, 5000, B)).toEqual({ t0_ns: 999_000, t1_ns: 1_000_000 });
  });

  it("clamps a window to the bounds", () => {
    expect(clampWindow({ t0_ns: -50, t1_ns: 50 }, B)).toEqual({ t0_ns: 0, t1_ns: 100 });
    expect(clampWindow({ t0_ns: 5, t1_ns: 5 }, B)).toEqual({ t0_ns: 0, t1_ns: 10 });
    expect(clampWindow({ t0_ns: 100, t1_ns: 104 }, B)).toEqual({ t0_ns: 97, t1_ns: 107 });
  });

  it("wheel: down zooms out, up zooms in, symmetric", () => {
    expect(wheelZoomFactor(100)).toBeGreaterThan(1);
    expect(wheelZoomFactor(-100)).toBeLessThan(1);
    expect(wheelZoomFactor(100) * wheelZoomFactor(-100)).toBeCloseTo(1, 12);
    expect(wheelZoomFactor(3, 1)).toBeCloseTo(wheelZoomFactor(48), 12);
  });

  it("centres a slice, keeping the zoom when it fits and zooming out when not", () => {
    const w = windowAround(vp.window, 10_000, 100, B);
    expect(spanNs(w)).toBe(2000);
    expect((w.t0_ns + w.t1_ns) / 2).toBe(10_050);
    const big = windowAround(vp.window, 10_000, 5000, B);
    expect(spanNs(big)).toBe(10_000);
    const fit = windowFit(10_000, 1000, B, 0.1);
    expect(fit).toEqual({ t0_ns: 9900, t1_ns: 11_100 });
  });
});

describe("affine maps between named spaces", () => {
  const a: Axis = { in0: 10, out0: 100, scale: 4, inv: 0.25 };
  const b: Axis = { in0: -3, out0: 7, scale: 0.5, inv: 2 };

  it("maps about an origin, inverts, and composes in order", () => {
    expect(mapAxis(a, 12)).toBe(108);
    expect(mapAxis(invertAxis(a), 108)).toBe(12);
    for (const v of [-5, 0, 12.5, 1e6]) {
      expect(mapAxis(thenAxis(a, b), v)).toBeCloseTo(mapAxis(b, mapAxis(a, v)), 9);
      expect(mapAxis(invertAxis(thenAxis(a, b)), mapAxis(thenAxis(a, b), v))).toBeCloseTo(v, 9);
    }
    expect(mapAxis(shift(-220), 300)).toBe(80);
  });

  it("t_ns -> px is the window's affine map, exact for times far from zero", () => {
    // Times on a wall clock (t_ns near 1.7e15), 3 us across 997 px: k * t + c loses
    // 0.04 px to rounding here; the origin form (t - t0) * k does not.
    const t0 = 1.7e15;
    const k = 997 / 3000;
    const far: Viewport = { window: { t0_ns: t0, t1_ns: t0 + 3000 }, width_px: 997 };
    expect(tNsToPx(far, t0 + 333)).toBe(333 * k);
    expect(Math.abs(k * (t0 + 333) - k * t0 - 333 * k)).toBeGreaterThan(0.01);
    expect(pxToTNs(far, 333 * k)).toBe(t0 + 333);
    expect(timeToPx(vp)).toEqual({ in0: 1000, out0: 0, scale: pxPerNs(vp), inv: nsPerPx(vp) });
  });

  it("(t_ns, content_y) -> screen puts the window's start at the slice area's left edge and scrollY at the rows' top", () => {
    const m = contentToScreen(vp, { left_px: 220, top_px: 28, scrollY: 500 });
    expect(apply(m, { x: 1000, y: 500 })).toEqual({ x: 220, y: 28 });
    expect(apply(m, { x: 3000, y: 600 })).toEqual({ x: 1220, y: 128 });
    // A pointer back to time and content: the inverse of the same map.
    const back = invert(m);
    expect(apply(back, { x: 720, y: 100 })).toEqual({ x: 2000, y: 572 });
    expect(mapAxis(back.x, 720)).toBe(pxToTNs(vp, 720 - 220));
    for (const p of [{ x: 0, y: 0 }, { x: 1399.5, y: 871.25 }]) {
      const q = apply(m, apply(back, p));
      expect(q.x).toBeCloseTo(p.x, 9);
      expect(q.y).toBeCloseTo(p.y, 9);
    }
  });
});
