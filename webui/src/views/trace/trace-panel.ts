// The Trace tab: a canvas timeline fed only by the viewport API. The container:
// owns the toolbar, loads the tracks, feeds the loader's data to the renderer,
// keeps the URL (t0, t1, sel, q) in step with the view, and composes the parts:
//   pan-zoom-view.ts  canvas, viewport (window, scroll), input, frame loop
//   search-bar.ts     search box, match list, stepping through matches
//   inspector.ts      hover tooltip, selection and its details panel
//   track-rows.ts     collapse state and layout of the rows
// Data: TimelineLoader asks for an aligned window with one visible span of
// margin on each side, keeps recent windows in an LRU and aborts requests the
// view has left behind. Each frame draws only what the API returned.

import type { SearchMatch, TracksResponse } from "../../api/wire";
import { formatCount, formatWindow } from "../../lib/format";
import { windowForHit } from "../../lib/hit-window";
import { windowFit } from "../../lib/transform";
import type { ViewState } from "../../lib/viewstate";
import type { TimelineColors } from "../../render/timeline-renderer";
import { h, replace } from "../dom";
import type { Panel, PanelContext } from "../panel";
import { emptyState, errorState, loading } from "../states";
import { readTimelineColors } from "./colors";
import { dataAttrs, drawFrame, writeAttrs } from "./frame";
import { Inspector } from "./inspector";
import { PanZoomView, type PanZoomHost, type Scene } from "./pan-zoom-view";
import { SearchBar } from "./search-bar";
import { TraceData } from "./trace-data";
import { TrackRows } from "./track-rows";
import { WindowUrl } from "./window-url";

export class TracePanel implements Panel, PanZoomHost {
  readonly el = h("section", { class: "panel trace-panel", "data-testid": "panel-trace" });
  private readonly body = h("div", { class: "trace-body" });
  private readonly canvasWrap = h("div", { class: "timeline-wrap" });
  private readonly windowLabel = h("span", { class: "muted", "data-testid": "timeline-window" });
  /** The host (and device) a link scrolled to, with a button to forget it. */
  private readonly focusChip = h("span", { class: "tag focus-chip", "data-testid": "trace-focus", hidden: true });
  private readonly view = new PanZoomView(this);
  private readonly inspector: Inspector;
  private readonly search: SearchBar;
  private readonly data: TraceData;

  private tracks: TracksResponse | null = null;
  private rows: TrackRows | null = null;
  private colors: TimelineColors | null = null;
  private started = false;
  /** The host (and device) of the URL last scrolled to. */
  private focused: string | null = null;
  private readonly url: WindowUrl;
  private resize: ResizeObserver | null = null;
  private cleanup: (() => void)[] = [];

  constructor(private readonly ctx: PanelContext) {
    const vp = this.view.vp;
    this.inspector = new Inspector(ctx, {
      onClose: () => this.select(null),
      onZoom: (d) => this.view.setWindow(windowFit(d.start_ns, d.dur_ns, vp.bounds)),
      track: (id) => this.rows?.track(id),
    });
    this.search = new SearchBar((q, after) => ctx.api.search(ctx.profile.id, q, after, 100), {
      onHit: (m) => this.jumpTo(m),
      onQuery: (q) => ctx.setView({ q }),
      onEscape: () => this.view.canvas.focus(),
      trackName: (id) => this.rows?.track(id)?.name,
    });
    this.url = new WindowUrl(() => vp.window, (t0, t1) => ctx.setView({ t0, t1 }));
    this.data = new TraceData(ctx, {
      indexed: (d) => {
        this.inspector.clearHover();
        writeAttrs(this.view.canvas.dataset, dataAttrs(d));
      },
      invalidate: () => this.view.invalidate(),
    });
    this.canvasWrap.append(this.view.canvas, this.inspector.tip);
    const toolbar = h("div", { class: "toolbar" },
      this.search.form,
      this.focusChip,
      h("span", { class: "spacer" }),
      this.data.busy,
      this.windowLabel,
      this.data.counts,
      h("button", { class: "btn", title: "Zoom in (W)", "aria-label": "Zoom in", onclick: () => this.view.zoomCenter(0.5) }, "+"),
      h("button", { class: "btn", title: "Zoom out (S)", "aria-label": "Zoom out", onclick: () => this.view.zoomCenter(2) }, "−"),
      h("button", { class: "btn", title: "Show the whole profile (0)", "data-testid": "zoom-reset", onclick: () => this.view.setWindow(vp.full()) }, "Reset"),
    );
    this.body.append(this.canvasWrap, this.inspector.details.el, this.search.results);
    this.el.append(toolbar, this.body);
    this.cleanup.push(ctx.theme.subscribe(() => {
      this.colors = null;
      this.view.invalidate();
    }));
  }

  // ------------------------------------------------------------ lifecycle

  show(): void {
    this.view.visible = true;
    if (!this.started) {
      this.started = true;
      void this.loadTracks();
    }
    this.measure();
    this.view.invalidate();
  }

  hide(): void {
    this.view.hide();
    this.inspector.hideTip();
  }

  destroy(): void {
    this.data.dispose();
    this.resize?.disconnect();
    for (const c of this.cleanup) c();
    this.url.cancel();
    this.view.destroy();
  }

  update(v: ViewState): void {
    if (!this.tracks) return; // applied once tracks load
    this.applyView(v);
  }

  /** The URL's view (a reload, back/forward, a share link) onto the panel. */
  private applyView(v: ViewState): void {
    if (v.t0 !== undefined && v.t1 !== undefined && this.view.vp.setWindow({ t0_ns: v.t0, t1_ns: v.t1 }, 1)) {
      this.inspector.clearHover();
      this.view.invalidate();
    }
    const sel = v.sel ?? null;
    if (sel !== this.inspector.selectedId) {
      this.inspector.select(sel);
      this.view.invalidate();
    }
    if ((v.q ?? "") !== this.search.q) void this.search.restore(v.q ?? "", sel);
    const focus = v.host ? `${v.host}\u0000${v.dev ?? ""}` : null;
    if (focus !== this.focused) {
      this.focused = focus;
      if (v.host) this.focusHost(v.host, v.dev);
      this.focusChip.hidden = !v.host;
      replace(this.focusChip, v.host ? `${v.host}${v.dev !== undefined ? ` · device ${v.dev}` : ""}` : "",
        v.host ? h("button", { class: "linklike", type: "button", title: "Forget this host (the link that opened the trace named it)", "aria-label": "Clear the host", onclick: () => this.ctx.setView({ host: undefined, dev: undefined }) }, " ✕") : null);
      this.focusChip.title = v.host ? `Opened on ${v.host}${v.dev !== undefined ? `, device ${v.dev}` : ""} (from a link)` : "";
    }
  }

  /** The URL's host (a finding's deep link): expand it and scroll its header to the top. */
  private focusHost(host: string, dev?: number): void {
    const t = this.rows?.find(host, dev);
    if (!t || !this.rows) return;
    if (this.rows.reveal(t.id)) this.view.vp.contentHeight = this.rows.layout.totalHeight;
    const head = this.rows.layout.items.find((it) => it.kind === "host" && it.host === host);
    const it = this.rows.layout.tracks.get(t.id);
    // The host's header on top, unless its device track would then be off screen.
    if (head && it && it.y + it.h - head.y <= this.view.vp.rowsH) this.view.vp.scrollTo(head.y);
    else if (it) this.view.vp.scrollTo(it.y);
    this.view.invalidate();
  }

  private async loadTracks(): Promise<void> {
    replace(this.canvasWrap, loading("tracks"));
    try {
      const t = await this.ctx.api.tracks(this.ctx.profile.id);
      this.tracks = t;
      const start = t.start_ns ?? 0;
      this.view.vp.setBounds({ start_ns: start, end_ns: Math.max(start + 1, t.end_ns) });
      if (!t.tracks.length) {
        replace(this.canvasWrap, emptyState("This profile has no timeline events.", "Capture a longer window while the job is running steps, or upload another `.xplane.pb`."));
        return;
      }
      this.rows = new TrackRows(t.tracks);
      this.view.vp.contentHeight = this.rows.layout.totalHeight;
      replace(this.canvasWrap, this.view.canvas, this.inspector.tip);
      this.measure();
      this.applyView(this.ctx.view());
      this.resize = new ResizeObserver(() => {
        this.measure();
        this.view.invalidate();
      });
      this.resize.observe(this.canvasWrap);
      this.measure();
      this.view.invalidate();
    } catch (e) {
      replace(this.canvasWrap, errorState(e, () => void this.loadTracks()));
    }
  }

  private measure(): void {
    const r = this.canvasWrap.getBoundingClientRect();
    this.view.vp.resize(r.width, r.height);
  }

  // ------------------------------------------------------------ frames (PanZoomHost)

  scene(): Scene | null {
    if (!this.tracks || !this.rows?.layout.items.length) return null;
    return { layout: this.rows.layout, index: this.data.index, steps: this.tracks.steps ?? [] };
  }

  paint(): void {
    const { layout, steps } = this.scene()!;
    const vp = this.view.vp;
    if (!this.colors) this.colors = readTimelineColors(this.el, this.ctx.theme.get() === "dark");
    drawFrame(this.view.canvas, vp, layout, steps, this.data, this.inspector, this.colors);
    const w = vp.window;
    this.windowLabel.textContent = formatWindow(w.t0_ns, w.t1_ns);
    this.windowLabel.title = `Visible window, from the profile's start: ${formatCount(w.t0_ns)} – ${formatCount(w.t1_ns)} ns`;
  }

  // ------------------------------------------------------------ input (PanZoomHost)

  moved(held: boolean): void {
    if (!held) this.inspector.clearHover();
    this.url.schedule();
  }

  hovered(i: number, x: number | null, y: number | null): void {
    if (this.inspector.hover(i)) this.view.invalidate();
    if (x === null || y === null || !this.rows) this.inspector.hideTip();
    else this.inspector.showTip(i, x, y, this.data.index, this.rows.layout, this.view.vp.size.w);
  }

  clicked(i: number): void {
    const index = this.data.index;
    if (i >= 0 && index) this.select(index.data.id[i]!, true);
    else if (this.inspector.selectedId !== null) this.select(null);
  }

  toggled(key: string): void {
    if (!this.rows) return;
    this.rows.toggle(key);
    this.view.vp.contentHeight = this.rows.layout.totalHeight;
    this.view.invalidate();
  }

  command(key: string): boolean {
    switch (key) {
      case "f": case "F": {
        const d = this.inspector.selectedDetails;
        if (d) this.view.setWindow(windowFit(d.start_ns, d.dur_ns, this.view.vp.bounds));
        return true;
      }
      case "/": this.search.focus(); return true;
      case "n": void this.search.step(1); return true;
      case "N": void this.search.step(-1); return true;
      case "Escape": if (this.inspector.selectedId !== null) this.select(null); return true;
      default: return false;
    }
  }

  // ------------------------------------------------------------ view changes

  private select(id: number | null, push = false): void {
    this.inspector.select(id);
    this.ctx.setView({ sel: id ?? undefined }, push);
    this.view.invalidate();
  }

  /** A search hit: select it, open its details, centre it at a readable width, reveal its track. */
  private jumpTo(m: SearchMatch): void {
    // Open the details first: the panel narrows the timeline, and the hit is sized
    // and centred for the width it will be drawn in.
    this.inspector.select(m.id);
    this.measure();
    const vp = this.view.vp;
    vp.window = windowForHit(vp.window, m.start_ns, m.dur_ns, vp.viewport().width_px, vp.bounds);
    this.inspector.clearHover();
    this.reveal(m.track);
    this.ctx.setView({ q: this.search.q, sel: m.id, t0: Math.round(vp.window.t0_ns), t1: Math.round(vp.window.t1_ns) });
    this.view.invalidate();
  }

  /** Make a track's rows visible: expand its host/group, scroll to it. */
  private reveal(trackId: number): void {
    if (!this.rows) return;
    if (this.rows.reveal(trackId)) this.view.vp.contentHeight = this.rows.layout.totalHeight;
    const it = this.rows.layout.tracks.get(trackId);
    if (it) this.view.vp.reveal(it.y, it.h);
  }
}
