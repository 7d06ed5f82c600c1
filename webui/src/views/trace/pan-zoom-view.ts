// The timeline canvas and what moves it: owns the canvas element, the
// viewport (window, scroll, size), the frame loop and the pointer/keyboard
// bindings. input.ts decides what an input does and render/timeline-hit.ts
// what is under the pointer; this file feeds them DOM events and applies the
// result. What a hover, a selection or a command means is the host's (the panel).

import type { StepMarker } from "../../api/wire";
import { apply, invert, sameWindow, windowFit, zoomAt, type TimeWindow } from "../../lib/transform";
import { itemAtScreen, regionAt, sliceAt, stepAt } from "../../render/timeline-hit";
import type { TimelineIndex } from "../../render/timeline-index";
import type { TimelineLayout } from "../../render/timeline-layout";
import { h } from "../dom";
import {
  HELD_KEYS, dragActions, heldDt, heldKeysWindow, pastSlop, startDrag, stepKeyAction, wheelAction, type Drag, type ViewAction,
} from "./input";
import { TraceViewport } from "./viewport";

/** What is drawn: the rows, the loaded slices, the steps. */
export interface Scene {
  layout: TimelineLayout;
  index: TimelineIndex | null;
  steps: readonly StepMarker[];
}

export interface PanZoomHost {
  /** The scene, or null while there is nothing to draw (tracks not loaded). */
  scene(): Scene | null;
  /** Draw one frame of the current view. */
  paint(): void;
  /** The window moved; `held`: by W/A/S/D, which keeps the hover. */
  moved(held: boolean): void;
  /** The pointer is over slice i (-1: none) at screen (x, y); off the canvas: i = -1, x = y = null. */
  hovered(i: number, x: number | null, y: number | null): void;
  /** A click on slice i, or on empty slice area (-1). */
  clicked(i: number): void;
  /** A click on a collapsible row header (its layout key). */
  toggled(key: string): void;
  /** A key that is not navigation (F, /, N, Escape, ...); true when it was used. */
  command(key: string): boolean;
}

export class PanZoomView {
  readonly canvas = h("canvas", {
    class: "timeline-canvas", tabindex: 0, "data-testid": "timeline-canvas",
    "aria-label": "Trace timeline. W/S zoom, A/D pan, arrows scroll, F fit selection, ? for help",
  });
  readonly vp = new TraceViewport();
  /** Off while the tab is hidden: no frames, no keys. */
  visible = false;
  private frame = 0;
  /** Last pointer position over the canvas, screen px (held-key zoom anchors there). */
  private mouse: { x: number; y: number } | null = null;
  private drag: Drag | null = null;
  private keys = new Set<string>();
  private lastKeyTime = 0;
  private cleanup: (() => void)[] = [];

  constructor(private readonly host: PanZoomHost) {
    this.bindPointer();
    const onKeyDown = (e: KeyboardEvent) => this.onKey(e, true);
    const onKeyUp = (e: KeyboardEvent) => this.onKey(e, false);
    const onBlur = () => this.keys.clear();
    document.addEventListener("keydown", onKeyDown);
    document.addEventListener("keyup", onKeyUp);
    window.addEventListener("blur", onBlur);
    this.cleanup.push(
      () => document.removeEventListener("keydown", onKeyDown),
      () => document.removeEventListener("keyup", onKeyUp),
      () => window.removeEventListener("blur", onBlur),
    );
  }

  /** Ask for a frame (one per animation frame at most, none while hidden). */
  invalidate(): void {
    if (this.frame || !this.visible) return;
    this.frame = requestAnimationFrame((t) => this.onFrame(t));
  }

  hide(): void {
    this.visible = false;
    this.keys.clear();
  }

  destroy(): void {
    this.visible = false;
    for (const c of this.cleanup) c();
    cancelAnimationFrame(this.frame);
  }

  /** Show a window (clamped); tells the host and repaints when it changed. */
  setWindow(w: TimeWindow): void {
    if (!this.vp.setWindow(w)) return;
    this.host.moved(false);
    this.invalidate();
  }

  /** Zoom around the middle of the window (the toolbar's + and −); factor < 1 zooms in. */
  zoomCenter(factor: number): void {
    const w = this.vp.window;
    this.setWindow(zoomAt(w, (w.t0_ns + w.t1_ns) / 2, factor, this.vp.bounds));
  }

  scrollBy(dy: number): void {
    this.vp.scrollBy(dy);
    this.invalidate();
  }

  private apply(a: ViewAction): void {
    if ("window" in a) this.setWindow(a.window);
    else if ("scrollBy" in a) this.scrollBy(a.scrollBy);
    else {
      this.vp.scrollTo(a.scrollTo);
      this.invalidate();
    }
  }

  private onFrame(now: number): void {
    this.frame = 0;
    if (!this.visible || !this.host.scene()) return;
    const animating = this.stepKeys(now);
    this.host.paint();
    if (animating) this.invalidate();
  }

  /** Apply held W/A/S/D for the time since the last frame; true while keys are held. */
  private stepKeys(now: number): boolean {
    if (!this.keys.size) return false;
    const dt = heldDt(now, this.lastKeyTime);
    this.lastKeyTime = now;
    const w = heldKeysWindow(this.keys, dt, this.vp, this.mouse?.x ?? null);
    if (!sameWindow(w, this.vp.window, 1e-6)) {
      this.vp.window = w; // already clamped by zoomAt/panByNs
      this.host.moved(true);
    }
    return true;
  }

  /** The slice at screen (x, y), or -1. */
  private sliceAt(x: number, y: number): number {
    const s = this.host.scene();
    return s ? sliceAt(s.layout, s.index, this.vp.toScreen(), { x, y }) : -1;
  }

  private click(x: number, y: number): void {
    const s = this.host.scene();
    if (!s) return;
    switch (regionAt({ x, y })) {
      case "axis": {
        // A click on the axis at a step zooms to that step.
        const st = stepAt(s.steps, apply(invert(this.vp.toScreen()), { x, y }).x);
        if (st) this.setWindow(windowFit(st.start_ns, st.dur_ns, this.vp.bounds, 0.02));
        return;
      }
      case "gutter": {
        const it = itemAtScreen(s.layout, this.vp.toScreen(), y);
        if (it?.collapsible) this.host.toggled(it.key);
        return;
      }
      case "slices": this.host.clicked(this.sliceAt(x, y)); return;
      default: return;
    }
  }

  private local(e: MouseEvent): { x: number; y: number } {
    const r = this.canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  private bindPointer(): void {
    const c = this.canvas;
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      const { x } = this.local(e);
      this.apply(wheelAction({ x, deltaX: e.deltaX, deltaY: e.deltaY, deltaMode: e.deltaMode, shiftKey: e.shiftKey, altKey: e.altKey }, this.vp));
    }, { passive: false });
    c.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      const { x, y } = this.local(e);
      c.setPointerCapture(e.pointerId);
      this.drag = startDrag(x, y, this.vp);
    });
    c.addEventListener("pointermove", (e) => {
      const { x, y } = this.local(e);
      this.mouse = { x, y };
      if (!this.drag) {
        const i = this.sliceAt(x, y);
        const r = regionAt({ x, y });
        c.style.cursor = r === "gutter" || r === "caption" || i >= 0 ? "pointer" : "default";
        this.host.hovered(i, x, y);
        return;
      }
      if (pastSlop(this.drag, x, y)) this.drag.moved = true;
      if (!this.drag.moved) return;
      if (this.drag.mode === "pan") c.style.cursor = "grabbing";
      for (const a of dragActions(this.drag, x, y, this.vp)) this.apply(a);
    });
    c.addEventListener("pointerleave", () => {
      this.mouse = null;
      this.host.hovered(-1, null, null);
    });
    c.addEventListener("pointerup", (e) => {
      const drag = this.drag;
      this.drag = null;
      c.style.cursor = "default";
      if (!drag || drag.moved) return;
      const { x, y } = this.local(e);
      this.click(x, y);
    });
    c.addEventListener("dblclick", (e) => {
      const { x, y } = this.local(e);
      const i = this.sliceAt(x, y);
      const index = this.host.scene()?.index;
      if (i >= 0 && index) this.setWindow(windowFit(index.data.start[i]!, index.data.dur[i]!, this.vp.bounds));
    });
  }

  private onKey(e: KeyboardEvent, down: boolean): void {
    if (!this.visible || e.metaKey || e.ctrlKey || e.altKey) return;
    const tgt = e.target as HTMLElement | null;
    if (tgt && (tgt.tagName === "INPUT" || tgt.tagName === "TEXTAREA" || tgt.tagName === "SELECT" || tgt.isContentEditable)) return;
    if (document.querySelector(".overlay:not([hidden])")) return;
    const k = e.key.toLowerCase();
    if (HELD_KEYS.has(k)) {
      e.preventDefault();
      if (down) {
        if (!this.keys.size) this.lastKeyTime = performance.now();
        this.keys.add(k);
        this.invalidate();
      } else this.keys.delete(k);
      return;
    }
    if (!down) return;
    const a = stepKeyAction(e.key, this.vp);
    if (a) this.apply(a);
    else if (!this.host.command(e.key)) return;
    e.preventDefault();
  }
}
