// The pan/zoom state of the trace: which time window is shown, how far the rows
// are scrolled, and the canvas size. Pure (no DOM), so the input mapping and
// hit-testing can be tested against it. Spaces and units are lib/transform's:
// t_ns for the window, CSS px for sizes, content_y for scrollY.

import { AXIS_H, GUTTER_W } from "../../render/timeline-layout";
import {
  clampWindow, contentToScreen, sameWindow, type Affine, type Bounds, type TimeWindow, type Viewport,
} from "../../lib/transform";

export class TraceViewport {
  bounds: Bounds = { start_ns: 0, end_ns: 1 };
  window: TimeWindow = { t0_ns: 0, t1_ns: 1 };
  /** content_y at the top of the rows. */
  scrollY = 0;
  /** The canvas, CSS px. */
  size = { w: 0, h: 0 };
  /** The layout's height, content px (what scrollY may reach, less one screen). */
  private contentH = 0;

  /** New bounds; shows all of them. */
  setBounds(b: Bounds): void {
    this.bounds = b;
    this.window = this.full();
  }

  /** The whole profile. */
  full(): TimeWindow {
    return { t0_ns: this.bounds.start_ns, t1_ns: this.bounds.end_ns };
  }

  /** The canvas' size from its box, never smaller than a usable timeline. */
  resize(w_px: number, h_px: number): void {
    this.size = { w: Math.max(GUTTER_W + 50, Math.floor(w_px)), h: Math.max(AXIS_H + 60, Math.floor(h_px)) };
  }

  /** Height of the rows on screen, px. */
  get rowsH(): number {
    return this.size.h - AXIS_H;
  }

  get contentHeight(): number {
    return this.contentH;
  }

  set contentHeight(h: number) {
    this.contentH = h;
    this.clampScroll();
  }

  /** The visible window and the slice area's width. */
  viewport(): Viewport {
    return { window: this.window, width_px: Math.max(1, this.size.w - GUTTER_W) };
  }

  /** (t_ns, content_y) -> screen px for the current frame. */
  toScreen(): Affine {
    return contentToScreen(this.viewport(), { left_px: GUTTER_W, top_px: AXIS_H, scrollY: this.scrollY });
  }

  /** Show a window (clamped to the bounds); false when that is what is shown already. */
  setWindow(w: TimeWindow, eps = 1e-6): boolean {
    const c = clampWindow(w, this.bounds);
    if (sameWindow(c, this.window, eps)) return false;
    this.window = c;
    return true;
  }

  scrollTo(y: number): void {
    this.scrollY = y;
    this.clampScroll();
  }

  scrollBy(dy: number): void {
    this.scrollTo(this.scrollY + dy);
  }

  /** Scroll so that rows [y, y + h) (content px) are on screen, a third of the way down; false when they are. */
  reveal(y: number, h: number): boolean {
    const viewH = this.rowsH;
    if (y >= this.scrollY && y + h <= this.scrollY + viewH) return false;
    this.scrollTo(y - Math.max(0, (viewH - h) / 3));
    return true;
  }

  /** Whether the rows are taller than the screen (a scrollbar is drawn). */
  get scrollable(): boolean {
    return this.contentH > this.rowsH;
  }

  private clampScroll(): void {
    this.scrollY = Math.max(0, Math.min(this.scrollY, Math.max(0, this.contentH - this.rowsH)));
  }
}
