import { describe, expect, it } from "vitest";
import { apply } from "../../lib/transform";
import { AXIS_H, GUTTER_W } from "../../render/timeline-layout";
import { TraceViewport } from "./viewport";

function view(): TraceViewport {
  const v = new TraceViewport();
  v.setBounds({ start_ns: 0, end_ns: 1_000_000 });
  v.resize(1220.7, 628); // slice area 1000 px wide, rows 600 px high
  v.contentHeight = 2000;
  return v;
}

describe("TraceViewport", () => {
  it("starts on the whole profile and sizes the slice area and the rows", () => {
    const v = view();
    expect(v.window).toEqual({ t0_ns: 0, t1_ns: 1_000_000 });
    expect(v.size).toEqual({ w: 1220, h: 628 });
    expect(v.viewport().width_px).toBe(1000);
    expect(v.rowsH).toBe(600);
    expect(v.scrollable).toBe(true);
    v.resize(10, 10); // a collapsed box still leaves a usable canvas
    expect(v.size).toEqual({ w: GUTTER_W + 50, h: AXIS_H + 60 });
  });

  it("maps the window's start and scrollY to the slice area's top-left corner", () => {
    const v = view();
    v.setWindow({ t0_ns: 1000, t1_ns: 3000 });
    v.scrollTo(150);
    const m = v.toScreen();
    expect(apply(m, { x: 1000, y: 150 })).toEqual({ x: GUTTER_W, y: AXIS_H });
    expect(apply(m, { x: 3000, y: 750 })).toEqual({ x: GUTTER_W + 1000, y: AXIS_H + 600 });
  });

  it("clamps windows to the bounds and says when nothing changed", () => {
    const v = view();
    expect(v.setWindow({ t0_ns: -500, t1_ns: 1500 })).toBe(true);
    expect(v.window).toEqual({ t0_ns: 0, t1_ns: 2000 });
    expect(v.setWindow({ t0_ns: 0, t1_ns: 2000 })).toBe(false);
    expect(v.setWindow({ t0_ns: 0.5, t1_ns: 2000.5 }, 1)).toBe(false); // the URL's integer ns
    expect(v.setWindow(v.full())).toBe(true);
  });

  it("keeps scrollY between 0 and the content below the last screen", () => {
    const v = view();
    v.scrollBy(-50);
    expect(v.scrollY).toBe(0);
    v.scrollTo(5000);
    expect(v.scrollY).toBe(1400);
    v.contentHeight = 700; // rows collapsed: less to scroll
    expect(v.scrollY).toBe(100);
    v.contentHeight = 300;
    expect(v.scrollY).toBe(0);
    expect(v.scrollable).toBe(false);
  });

  it("reveals rows a third of the way down, and leaves rows on screen alone", () => {
    const v = view();
    expect(v.reveal(100, 50)).toBe(false);
    expect(v.reveal(1200, 60)).toBe(true);
    expect(v.scrollY).toBe(1200 - (600 - 60) / 3);
    expect(v.reveal(10, 40)).toBe(true);
    expect(v.scrollY).toBe(0);
  });
});
