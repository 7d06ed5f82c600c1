// The slices on screen: asks TimelineLoader for the data of the current view,
// indexes each window that arrives, and shows what it holds ("n of m events
// shown", the busy/error note). Records the repaint marks around it.

import { shownCounts, type TimelineData } from "../../api/timeline-decode";
import { formatCount } from "../../lib/format";
import { TimelineIndex } from "../../render/timeline-index";
import { visibleTrackIds, type TimelineLayout } from "../../render/timeline-layout";
import { TimelineLoader, type LoadedWindow } from "../../state/timeline-loader";
import { h } from "../dom";
import type { PanelContext } from "../panel";
import { RepaintMarks } from "./repaint-marks";
import type { TraceViewport } from "./viewport";

export interface TraceDataHost {
  /** A new window of data is indexed (what was hovered is gone). */
  indexed(data: TimelineData): void;
  /** Data arrived: draw again. */
  invalidate(): void;
}

export class TraceData {
  readonly counts = h("span", { class: "muted counts", "data-testid": "timeline-counts" });
  readonly busy = h("span", { class: "busy", hidden: true, role: "status" }, "loading…");
  /** The loaded window, indexed by row, or null before the first one. */
  index: TimelineIndex | null = null;
  /** Per-track counts of the loaded window, for "n of m" in the track names. */
  countsByTrack = new Map<number, { returned: number; in_window: number }>();
  private readonly marks = new RepaintMarks();
  private readonly loader: TimelineLoader;

  constructor(ctx: PanelContext, private readonly host: TraceDataHost) {
    this.loader = new TimelineLoader(
      (plan, tracks, signal) =>
        // The repaint measure starts when the bytes are in: decode, index and draw all count.
        ctx.api.timeline(ctx.profile.id, { start_ns: plan.start_ns, end_ns: plan.end_ns, width: plan.width, tracks }, signal, false, () => this.marks.bytesIn()),
      (w, err) => this.onData(w, err),
    );
  }

  /** Requests and aborts so far. */
  get stats(): { requests: number; aborted: number } {
    return this.loader.stats;
  }

  /**
   * Ask for the data of this view (a no-op when it is loaded or on its way) and
   * take the newest loaded window; returns the window the loader wants.
   */
  request(v: TraceViewport, layout: TimelineLayout): { start_ns: number; end_ns: number } {
    const plan = this.loader.request(v.window, v.viewport().width_px, v.bounds, visibleTrackIds(layout));
    if (!this.busy.classList.contains("error")) this.busy.hidden = this.loader.pending === null;
    if (this.loader.current && this.index?.data !== this.loader.current.data) this.setData(this.loader.current.data);
    return plan;
  }

  /** A frame was drawn from start_ms for draw_ms. */
  drawn(start_ms: number, draw_ms: number): void {
    this.marks.drawn(start_ms, draw_ms, !!this.index);
  }

  dispose(): void {
    this.loader.dispose();
  }

  private onData(w: LoadedWindow | null, err: Error | null): void {
    if (err) {
      this.busy.hidden = false;
      this.busy.textContent = `timeline request failed: ${err.message}`;
      this.busy.classList.add("error");
      return;
    }
    this.busy.classList.remove("error");
    this.busy.textContent = "loading…";
    this.busy.hidden = true;
    if (!w) return;
    this.marks.dataReady();
    this.setData(w.data);
    this.host.invalidate();
  }

  private setData(data: TimelineData): void {
    if (this.index?.data === data) return;
    const t0 = performance.now();
    this.index = new TimelineIndex(data);
    this.marks.indexed(t0);
    this.countsByTrack = new Map(data.tracks.map((t) => [t.id, { returned: t.returned, in_window: t.in_window }]));
    const c = shownCounts(data);
    this.counts.textContent = c.returned < c.inWindow
      ? `${formatCount(c.returned)} of ${formatCount(c.inWindow)} events shown`
      : `${formatCount(c.inWindow)} events`;
    this.counts.title = `Slices in the loaded window (visible span plus margin): ${formatCount(c.returned)} returned at this zoom, ${formatCount(c.inWindow)} in the window. Zoom in to see every event.`;
    this.host.indexed(data);
  }
}
