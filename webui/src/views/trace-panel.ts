// The Trace tab: a canvas timeline fed only by the viewport API.
//
// Input: wheel zooms around the cursor (Shift+wheel or a horizontal swipe
// pans, wheel over the track names scrolls), drag pans, W/S zoom, A/D pan,
// arrow keys scroll, F fits the selection, 0 shows everything, / searches.
// A search hit is centred, zoomed to a readable width when it is tiny, selected
// (highlighted) and its details opened; the status button lists the matches.
// Data: TimelineLoader asks for an aligned window with one visible span of
// margin on each side, keeps recent windows in an LRU and aborts requests the
// view has left behind. Each frame draws only what the API returned.

import { isAbort } from "../api/client";
import { shownCounts, type TimelineData } from "../api/timeline-decode";
import type { EventDetails, SearchMatch, Track, TracksResponse } from "../api/wire";
import { formatCount, formatEventTimes, formatWindow } from "../lib/format";
import { windowForHit } from "../lib/hit-window";
import {
  clampWindow, panByNs, panByPx, pxToTNs, sameWindow, spanNs, wheelZoomFactor, windowFit, zoomAt,
  type Bounds, type TimeWindow, type Viewport,
} from "../lib/transform";
import type { ViewState } from "../lib/viewstate";
import { fitCanvas } from "../render/canvas";
import { TimelineIndex } from "../render/timeline-index";
import {
  AXIS_H, GUTTER_W, computeLayout, defaultCollapsed, depthAt, itemAt, keysToReveal, visibleTrackIds,
  type TimelineLayout,
} from "../render/timeline-layout";
import { drawTimeline, readTimelineColors, type TimelineColors } from "../render/timeline-renderer";
import { SearchCursor } from "../state/search";
import { TimelineLoader, type LoadedWindow } from "../state/timeline-loader";
import { DetailsPanel } from "./details-panel";
import { h, replace } from "./dom";
import type { Panel, PanelContext } from "./panel";
import { emptyState, errorState, loading } from "./states";
import "./trace-search.css";

const KEY_ZOOM_PER_S = 3.0; // e-folds of span per second while W/S is held
const KEY_PAN_PER_S = 0.9; // spans per second while A/D is held

export class TracePanel implements Panel {
  readonly el = h("section", { class: "panel trace-panel", "data-testid": "panel-trace" });
  private readonly body = h("div", { class: "trace-body" });
  private readonly canvas = h("canvas", {
    class: "timeline-canvas", tabindex: 0, "data-testid": "timeline-canvas",
    "aria-label": "Trace timeline. W/S zoom, A/D pan, arrows scroll, F fit selection, ? for help",
  });
  private readonly canvasWrap = h("div", { class: "timeline-wrap" });
  private readonly tooltip = h("div", { class: "tooltip", "data-testid": "timeline-tooltip", hidden: true, role: "tooltip" });
  private readonly searchInput = h("input", {
    type: "search", class: "input", placeholder: "Search all events  (/)", "aria-label": "Search events in the whole profile",
    "data-testid": "trace-search", spellcheck: "false",
  });
  private readonly searchStatus = h("span", { class: "muted search-status", "data-testid": "search-status", "aria-live": "polite" });
  private readonly resultsToggle = h("button", {
    class: "btn small", type: "button", hidden: true, "aria-expanded": "false", "aria-controls": "trace-search-results",
    title: "List the matches", "data-testid": "search-results-toggle", onclick: () => this.toggleResults(),
  }, "List ▾");
  private readonly results = h("div", { class: "search-results", id: "trace-search-results", "data-testid": "search-results", hidden: true });
  private readonly counts = h("span", { class: "muted counts", "data-testid": "timeline-counts" });
  private readonly windowLabel = h("span", { class: "muted", "data-testid": "timeline-window" });
  private readonly busy = h("span", { class: "busy", hidden: true, role: "status" }, "loading…");
  private readonly details: DetailsPanel;
  private readonly cursor: SearchCursor;
  private readonly loader: TimelineLoader;

  private tracks: TracksResponse | null = null;
  private bounds: Bounds = { start_ns: 0, end_ns: 1 };
  private window: TimeWindow = { t0_ns: 0, t1_ns: 1 };
  private scrollY = 0;
  private collapsed = new Set<string>();
  private layout: TimelineLayout = { items: [], totalHeight: 0, tracks: new Map() };
  private index: TimelineIndex | null = null;
  private countsByTrack = new Map<number, { returned: number; in_window: number }>();
  private hoverIndex = -1;
  private selectedId: number | null = null;
  private colors: TimelineColors | null = null;
  private size = { w: 0, h: 0 };
  private frame = 0;
  private measurePending = false;
  private freshMark = false;
  private visible = false;
  private started = false;
  private mouse: { x: number; y: number } | null = null;
  private drag: { x: number; y: number; window: TimeWindow; scrollY: number; moved: boolean; mode: "pan" | "scroll" } | null = null;
  private keys = new Set<string>();
  private lastKeyTime = 0;
  private urlTimer: ReturnType<typeof setTimeout> | null = null;
  private resize: ResizeObserver | null = null;
  private cleanup: (() => void)[] = [];

  constructor(private readonly ctx: PanelContext) {
    this.details = new DetailsPanel(ctx, {
      onClose: () => this.select(null),
      onZoom: (d) => this.setWindow(windowFit(d.start_ns, d.dur_ns, this.bounds)),
      track: (id) => this.tracks?.tracks.find((t) => t.id === id),
    });
    this.cursor = new SearchCursor((q, after) => this.ctx.api.search(this.ctx.profile.id, q, after, 100));
    this.loader = new TimelineLoader(
      (plan, tracks, signal) =>
        this.ctx.api.timeline(this.ctx.profile.id, { start_ns: plan.start_ns, end_ns: plan.end_ns, width: plan.width, tracks }, signal, false, () => {
          // The repaint measure starts when the bytes are in: decode, index and draw all count.
          performance.mark("xdiag-data");
          this.freshMark = true;
        }),
      (w, err) => this.onData(w, err),
    );
    this.canvasWrap.append(this.canvas, this.tooltip);
    const toolbar = h("div", { class: "toolbar" },
      h("form", {
        class: "search", role: "search",
        onsubmit: (e: Event) => {
          e.preventDefault();
          void this.searchStep(1);
        },
      },
        this.searchInput,
        h("button", { class: "btn", type: "button", title: "Previous match (Shift+Enter)", "aria-label": "Previous match", "data-testid": "search-prev", onclick: () => void this.searchStep(-1) }, "↑"),
        h("button", { class: "btn", type: "submit", title: "Next match (Enter)", "aria-label": "Next match", "data-testid": "search-next" }, "↓"),
        this.searchStatus,
        this.resultsToggle),
      h("span", { class: "spacer" }),
      this.busy,
      this.windowLabel,
      this.counts,
      h("button", { class: "btn", title: "Zoom in (W)", "aria-label": "Zoom in", onclick: () => this.zoomCenter(0.5) }, "+"),
      h("button", { class: "btn", title: "Zoom out (S)", "aria-label": "Zoom out", onclick: () => this.zoomCenter(2) }, "−"),
      h("button", { class: "btn", title: "Show the whole profile (0)", "data-testid": "zoom-reset", onclick: () => this.setWindow({ t0_ns: this.bounds.start_ns, t1_ns: this.bounds.end_ns }) }, "Reset"),
    );
    this.searchInput.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && e.shiftKey) {
        e.preventDefault();
        void this.searchStep(-1);
      } else if (e.key === "Escape") {
        this.showResults(false);
        this.searchInput.blur();
        this.canvas.focus();
      }
    });
    this.body.append(this.canvasWrap, this.details.el, this.results);
    this.el.append(toolbar, this.body);
    this.bindInput();
  }

  // ------------------------------------------------------------ lifecycle

  show(): void {
    this.visible = true;
    if (!this.started) {
      this.started = true;
      void this.loadTracks();
    }
    this.measure();
    this.invalidate();
  }

  hide(): void {
    this.visible = false;
    this.keys.clear();
    this.tooltip.hidden = true;
  }

  destroy(): void {
    this.visible = false;
    this.loader.dispose();
    this.resize?.disconnect();
    for (const c of this.cleanup) c();
    if (this.urlTimer) clearTimeout(this.urlTimer);
    cancelAnimationFrame(this.frame);
  }

  update(v: ViewState): void {
    if (!this.tracks) return; // applied once tracks load
    this.applyView(v);
  }

  private applyView(v: ViewState): void {
    if (v.t0 !== undefined && v.t1 !== undefined) {
      const w = clampWindow({ t0_ns: v.t0, t1_ns: v.t1 }, this.bounds);
      if (!sameWindow(w, this.window, 1)) {
        this.window = w;
        this.clearHover();
        this.invalidate();
      }
    }
    const sel = v.sel ?? null;
    if (sel !== this.selectedId) {
      this.selectedId = sel;
      if (sel === null) this.details.hide();
      else void this.details.show(sel);
      this.invalidate();
    }
    if ((v.q ?? "") !== this.cursor.q) {
      this.searchInput.value = v.q ?? "";
      void this.restoreSearch(v.q ?? "", sel);
    }
  }

  private async loadTracks(): Promise<void> {
    replace(this.canvasWrap, loading("tracks"));
    try {
      const t = await this.ctx.api.tracks(this.ctx.profile.id);
      this.tracks = t;
      this.bounds = { start_ns: t.start_ns ?? 0, end_ns: Math.max((t.start_ns ?? 0) + 1, t.end_ns) };
      if (!t.tracks.length) {
        replace(this.canvasWrap, emptyState("This profile has no timeline events.", "Capture a longer window while the job is running steps, or upload another `.xplane.pb`."));
        return;
      }
      this.collapsed = defaultCollapsed(t.tracks);
      this.relayout();
      replace(this.canvasWrap, this.canvas, this.tooltip);
      this.window = { t0_ns: this.bounds.start_ns, t1_ns: this.bounds.end_ns };
      this.applyView(this.ctx.view());
      this.resize = new ResizeObserver(() => {
        this.measure();
        this.invalidate();
      });
      this.resize.observe(this.canvasWrap);
      this.measure();
      this.invalidate();
    } catch (e) {
      replace(this.canvasWrap, errorState(e, () => void this.loadTracks()));
    }
  }

  // ------------------------------------------------------------ data

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
    if (!this.freshMark) performance.mark("xdiag-data"); // served from the cache
    else performance.measure("xdiag-decode", "xdiag-data");
    this.freshMark = false;
    this.measurePending = true;
    this.setData(w.data);
    this.invalidate();
  }

  private setData(data: TimelineData): void {
    if (this.index?.data === data) return;
    const t0 = performance.now();
    this.index = new TimelineIndex(data);
    performance.measure("xdiag-index", { start: t0, end: performance.now() });
    this.clearHover();
    this.countsByTrack = new Map(data.tracks.map((t) => [t.id, { returned: t.returned, in_window: t.in_window }]));
    const c = shownCounts(data);
    this.counts.textContent = c.returned < c.inWindow
      ? `${formatCount(c.returned)} of ${formatCount(c.inWindow)} events shown`
      : `${formatCount(c.inWindow)} events`;
    this.counts.title = `Slices in the loaded window (visible span plus margin): ${formatCount(c.returned)} returned at this zoom, ${formatCount(c.inWindow)} in the window. Zoom in to see every event.`;
    this.canvas.dataset.reqStart = String(data.start_ns);
    this.canvas.dataset.reqEnd = String(data.end_ns);
    this.canvas.dataset.reqWidth = String(data.width);
  }

  private relayout(): void {
    if (!this.tracks) return;
    // The old data keeps being drawn (for the tracks still shown) until the
    // response for the new track set arrives.
    this.layout = computeLayout(this.tracks.tracks, this.collapsed);
    this.clampScroll();
  }

  // ------------------------------------------------------------ drawing

  private measure(): void {
    const r = this.canvasWrap.getBoundingClientRect();
    this.size = { w: Math.max(GUTTER_W + 50, Math.floor(r.width)), h: Math.max(AXIS_H + 60, Math.floor(r.height)) };
  }

  private viewport(): Viewport {
    return { window: this.window, width_px: Math.max(1, this.size.w - GUTTER_W) };
  }

  invalidate(): void {
    if (this.frame || !this.visible) return;
    this.frame = requestAnimationFrame((t) => this.paint(t));
  }

  private paint(now: number): void {
    this.frame = 0;
    if (!this.visible || !this.tracks || !this.layout.items.length) return;
    const animating = this.stepKeys(now);
    if (!this.colors) this.colors = readTimelineColors(this.el, this.ctx.theme.get() === "dark");
    const vp = this.viewport();
    // Ask for data for this view (no-op when it is loaded or on its way).
    const plan = this.loader.request(this.window, vp.width_px, this.bounds, visibleTrackIds(this.layout));
    if (!this.busy.classList.contains("error")) this.busy.hidden = this.loader.pending === null;
    if (this.loader.current && this.index?.data !== this.loader.current.data) this.setData(this.loader.current.data);
    const t0 = performance.now();
    const ctx = fitCanvas(this.canvas, this.size.w, this.size.h);
    const stats = drawTimeline(ctx, {
      width: this.size.w, height: this.size.h, viewport: vp, scrollY: this.scrollY, layout: this.layout,
      index: this.index, steps: this.tracks.steps ?? [], hoverIndex: this.hoverIndex, selectedId: this.selectedId,
      counts: this.countsByTrack, colors: this.colors,
    });
    const drawMs = performance.now() - t0;
    if (this.measurePending && this.index) {
      this.measurePending = false;
      if (performance.getEntriesByName("xdiag-repaint").length > 2000) performance.clearMeasures();
      performance.measure("xdiag-draw", { start: t0, end: t0 + drawMs });
      performance.measure("xdiag-repaint", "xdiag-data");
    }
    const ds = this.canvas.dataset;
    ds.t0 = String(Math.round(this.window.t0_ns));
    ds.t1 = String(Math.round(this.window.t1_ns));
    ds.slices = String(stats.slices);
    ds.drawMs = drawMs.toFixed(2);
    ds.planStart = String(plan.start_ns);
    ds.planEnd = String(plan.end_ns);
    ds.requests = String(this.loader.stats.requests);
    ds.aborted = String(this.loader.stats.aborted);
    ds.loaded = this.index ? "1" : "0";
    // Where the selected slice (a search hit) was drawn, px in the slice area.
    if (stats.selected) {
      ds.selX0 = stats.selected.x0.toFixed(1);
      ds.selX1 = stats.selected.x1.toFixed(1);
      ds.selId = String(this.selectedId);
    } else {
      delete ds.selX0;
      delete ds.selX1;
      delete ds.selId;
    }
    ds.areaWidth = String(vp.width_px);
    // Tracks wholly on screen, and the step bands drawn (for tests and tools).
    const top = this.scrollY, bottom = this.scrollY + this.size.h - AXIS_H;
    ds.onScreenTracks = [...this.layout.tracks.entries()]
      .filter(([, it]) => it.y >= top && it.y + it.h <= bottom).map(([id]) => id).join(",");
    ds.stepBands = (this.tracks.steps ?? []).slice(0, 64).map((st) => `${st.start_ns}:${st.start_ns + st.dur_ns}`).join(",");
    ds.tickLabels = stats.axis.labels.join("|");
    ds.axisCaption = stats.axis.caption;
    this.windowLabel.textContent = formatWindow(this.window.t0_ns, this.window.t1_ns);
    this.windowLabel.title = `Visible window, from the profile's start: ${formatCount(this.window.t0_ns)} – ${formatCount(this.window.t1_ns)} ns`;
    if (animating) this.invalidate();
  }

  // ------------------------------------------------------------ view changes

  private setWindow(w: TimeWindow): void {
    const c = clampWindow(w, this.bounds);
    if (sameWindow(c, this.window, 1e-6)) return;
    this.window = c;
    this.clearHover();
    this.invalidate();
    this.scheduleUrl();
  }

  private clearHover(): void {
    this.hoverIndex = -1;
    this.tooltip.hidden = true;
  }

  private scheduleUrl(): void {
    if (this.urlTimer) clearTimeout(this.urlTimer);
    this.urlTimer = setTimeout(() => {
      this.urlTimer = null;
      this.ctx.setView({ t0: Math.round(this.window.t0_ns), t1: Math.round(this.window.t1_ns) });
    }, 250);
  }

  private zoomCenter(f: number): void {
    const mid = (this.window.t0_ns + this.window.t1_ns) / 2;
    this.setWindow(zoomAt(this.window, mid, f, this.bounds));
  }

  private clampScroll(): void {
    const viewH = this.size.h - AXIS_H;
    this.scrollY = Math.max(0, Math.min(this.scrollY, Math.max(0, this.layout.totalHeight - viewH)));
  }

  private scrollBy(dy: number): void {
    this.scrollY += dy;
    this.clampScroll();
    this.invalidate();
  }

  private select(id: number | null, push = false): void {
    this.selectedId = id;
    if (id === null) this.details.hide();
    else void this.details.show(id);
    this.ctx.setView({ sel: id ?? undefined }, push);
    this.invalidate();
  }

  /** Make a track's rows visible: expand its host/group, scroll to it. */
  private reveal(trackId: number): void {
    const t = this.tracks?.tracks.find((x: Track) => x.id === trackId);
    if (!t) return;
    let changed = false;
    for (const k of keysToReveal(t)) if (this.collapsed.delete(k)) changed = true;
    if (changed) this.relayout();
    const it = this.layout.tracks.get(trackId);
    if (!it) return;
    const viewH = this.size.h - AXIS_H;
    if (it.y < this.scrollY || it.y + it.h > this.scrollY + viewH) {
      this.scrollY = it.y - Math.max(0, (viewH - it.h) / 3);
      this.clampScroll();
    }
  }

  // ------------------------------------------------------------ search

  private async searchStep(dir: 1 | -1): Promise<void> {
    const q = this.searchInput.value.trim();
    try {
      let m: SearchMatch | null;
      if (q !== this.cursor.q) {
        this.searchStatus.textContent = "searching…";
        m = await this.cursor.start(q);
        if (!q) {
          this.searchStatus.textContent = "";
          this.renderResults();
          this.ctx.setView({ q: undefined });
          return;
        }
      } else {
        m = dir > 0 ? await this.cursor.next() : this.cursor.prev();
      }
      this.searchStatus.textContent = this.cursor.label();
      this.renderResults();
      if (m) this.jumpTo(m);
      else this.ctx.setView({ q });
    } catch (e) {
      if (isAbort(e)) return;
      this.searchStatus.textContent = `search failed: ${(e as Error).message}`;
    }
  }

  /** After a reload with ?q=&sel=: load the matches and find the selected one, without moving. */
  private async restoreSearch(q: string, sel: number | null): Promise<void> {
    try {
      await this.cursor.start(q);
      if (sel !== null) {
        const i = this.cursor.matches.findIndex((m) => m.id === sel);
        if (i >= 0) this.cursor.index = i;
      }
      this.searchStatus.textContent = this.cursor.label();
      this.renderResults();
    } catch (e) {
      if (!isAbort(e)) this.searchStatus.textContent = `search failed: ${(e as Error).message}`;
    }
  }

  private jumpTo(m: SearchMatch): void {
    // Open the details first: the panel narrows the timeline, and the hit is sized
    // and centred for the width it will be drawn in.
    this.selectedId = m.id;
    void this.details.show(m.id);
    this.measure();
    this.window = windowForHit(this.window, m.start_ns, m.dur_ns, this.viewport().width_px, this.bounds);
    this.clearHover();
    this.reveal(m.track);
    this.ctx.setView({ q: this.cursor.q, sel: m.id, t0: Math.round(this.window.t0_ns), t1: Math.round(this.window.t1_ns) });
    this.invalidate();
  }

  private toggleResults(): void {
    this.showResults(this.results.hidden);
  }

  private showResults(open: boolean): void {
    this.results.hidden = !open || !this.cursor.matches.length;
    this.resultsToggle.setAttribute("aria-expanded", String(!this.results.hidden));
    if (!this.results.hidden) this.results.querySelector<HTMLElement>("[aria-current=true]")?.scrollIntoView({ block: "nearest" });
  }

  /** The loaded matches: name, named scope (when the server sends one), time, duration, track. */
  private renderResults(): void {
    const ms = this.cursor.matches;
    this.resultsToggle.hidden = !ms.length;
    if (!ms.length) {
      this.showResults(false);
      replace(this.results);
      return;
    }
    const trackName = new Map((this.tracks?.tracks ?? []).map((t) => [t.id, t.name]));
    const items = ms.map((m, i) => {
      const t = formatEventTimes(m.start_ns, m.dur_ns);
      return h("li", null, h("button", {
        type: "button", class: "search-hit", "data-testid": "search-result", "data-id": m.id,
        "aria-current": i === this.cursor.index ? "true" : null,
        onclick: () => {
          const hit = this.cursor.goTo(i);
          this.searchStatus.textContent = this.cursor.label();
          this.renderResults();
          if (hit) this.jumpTo(hit);
        },
      },
      h("span", { class: "hit-name", title: m.name }, m.name),
      m.scope ? h("span", { class: "hit-scope muted", title: m.scope, "data-testid": "search-result-scope" }, m.scope) : null,
      h("span", { class: "hit-time muted", title: `${formatCount(m.start_ns)} ns from the profile's start` }, `${t.dur} at ${t.start}`),
      h("span", { class: "hit-track muted" }, trackName.get(m.track) ?? `track ${m.track}`)));
    });
    const more = this.cursor.complete ? null : h("button", {
      type: "button", class: "btn small", "data-testid": "search-more",
      onclick: async () => {
        await this.cursor.more();
        this.renderResults();
      },
    }, `Load more (${formatCount(this.cursor.total - ms.length)} left)`);
    replace(this.results,
      h("div", { class: "search-results-head muted small" },
        `${formatCount(ms.length)} of ${formatCount(this.cursor.total)} matches of “${this.cursor.q}”, in time order`,
        h("button", { type: "button", class: "btn icon small", "aria-label": "Close the list", onclick: () => this.showResults(false) }, "✕")),
      h("ol", { class: "search-list" }, ...items),
      more);
    this.showResults(!this.results.hidden);
  }

  focusSearch(): void {
    this.searchInput.focus();
    this.searchInput.select();
  }

  // ------------------------------------------------------------ input

  private local(e: MouseEvent): { x: number; y: number } {
    const r = this.canvas.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  private hit(x: number, y: number): number {
    if (!this.index || x < GUTTER_W || y < AXIS_H) return -1;
    const it = itemAt(this.layout, y - AXIS_H + this.scrollY);
    if (!it?.track) return -1;
    const d = depthAt(it, y - AXIS_H + this.scrollY);
    if (d < 0) return -1;
    const vp = this.viewport();
    const t = pxToTNs(vp, x - GUTTER_W);
    return this.index.hitTest(it.track.id, d, t, 3 * (spanNs(this.window) / vp.width_px));
  }

  private showTooltip(i: number, x: number, y: number): void {
    if (i < 0 || !this.index) {
      this.tooltip.hidden = true;
      return;
    }
    const d = this.index.data;
    const track = this.layout.tracks.get(d.track[i]!)?.track;
    const t = formatEventTimes(d.start[i]!, d.dur[i]!);
    replace(this.tooltip,
      h("strong", null, this.index.name(i)),
      h("div", null, `${t.dur} at ${t.start}`),
      track ? h("div", { class: "muted" }, `${track.host} · ${track.name} · ${track.lanes ? "lane" : "row"} ${d.depth[i]! + 1}`) : null);
    this.tooltip.hidden = false;
    const tw = this.tooltip.offsetWidth;
    const left = x + 14 + tw > this.size.w ? x - tw - 10 : x + 14;
    this.tooltip.style.transform = `translate(${Math.max(0, left)}px, ${y + 14}px)`;
  }

  private bindInput(): void {
    const c = this.canvas;
    c.addEventListener("wheel", (e) => {
      e.preventDefault();
      const { x, y } = this.local(e);
      if (x < GUTTER_W || e.altKey) {
        this.scrollBy(e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY);
        return;
      }
      const vp = this.viewport();
      if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
        const d = e.shiftKey && !e.deltaX ? e.deltaY : e.deltaX;
        this.setWindow(panByPx(vp, d, this.bounds));
        return;
      }
      void y;
      const anchor = pxToTNs(vp, x - GUTTER_W);
      this.setWindow(zoomAt(this.window, anchor, wheelZoomFactor(e.deltaY, e.deltaMode), this.bounds));
    }, { passive: false });

    c.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      const { x, y } = this.local(e);
      c.setPointerCapture(e.pointerId);
      const onScrollbar = x > this.size.w - 10 && this.layout.totalHeight > this.size.h - AXIS_H;
      this.drag = { x, y, window: this.window, scrollY: this.scrollY, moved: false, mode: onScrollbar ? "scroll" : "pan" };
    });
    c.addEventListener("pointermove", (e) => {
      const { x, y } = this.local(e);
      this.mouse = { x, y };
      if (this.drag) {
        const dx = x - this.drag.x;
        const dy = y - this.drag.y;
        if (Math.abs(dx) + Math.abs(dy) > 3) this.drag.moved = true;
        if (!this.drag.moved) return;
        if (this.drag.mode === "scroll") {
          const viewH = this.size.h - AXIS_H;
          this.scrollY = this.drag.scrollY + (dy * this.layout.totalHeight) / viewH;
          this.clampScroll();
          this.invalidate();
        } else {
          c.style.cursor = "grabbing";
          this.setWindow(panByPx({ window: this.drag.window, width_px: this.viewport().width_px }, -dx, this.bounds));
          this.scrollY = this.drag.scrollY - dy;
          this.clampScroll();
        }
        return;
      }
      const i = this.hit(x, y);
      c.style.cursor = x < GUTTER_W ? "pointer" : i >= 0 ? "pointer" : "default";
      if (i !== this.hoverIndex) {
        this.hoverIndex = i;
        this.invalidate();
      }
      this.showTooltip(i, x, y);
    });
    c.addEventListener("pointerleave", () => {
      this.mouse = null;
      this.tooltip.hidden = true;
      if (this.hoverIndex !== -1) {
        this.hoverIndex = -1;
        this.invalidate();
      }
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
      const i = this.hit(x, y);
      if (i >= 0 && this.index) this.setWindow(windowFit(this.index.data.start[i]!, this.index.data.dur[i]!, this.bounds));
    });

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
    const onTheme = this.ctx.theme.subscribe(() => {
      this.colors = null;
      this.invalidate();
    });
    this.cleanup.push(onTheme);
  }

  private click(x: number, y: number): void {
    if (y < AXIS_H) {
      // A click on the axis at a step zooms to that step.
      const t = pxToTNs(this.viewport(), x - GUTTER_W);
      const st = this.tracks?.steps.find((s) => t >= s.start_ns && t <= s.start_ns + s.dur_ns);
      if (st && x >= GUTTER_W) this.setWindow(windowFit(st.start_ns, st.dur_ns, this.bounds, 0.02));
      return;
    }
    if (x < GUTTER_W) {
      const it = itemAt(this.layout, y - AXIS_H + this.scrollY);
      if (it?.collapsible) {
        if (this.collapsed.has(it.key)) this.collapsed.delete(it.key);
        else this.collapsed.add(it.key);
        this.relayout();
        this.invalidate();
      }
      return;
    }
    const i = this.hit(x, y);
    if (i >= 0 && this.index) this.select(this.index.data.id[i]!, true);
    else if (this.selectedId !== null) this.select(null);
  }

  private onKey(e: KeyboardEvent, down: boolean): void {
    if (!this.visible || e.metaKey || e.ctrlKey || e.altKey) return;
    const tgt = e.target as HTMLElement | null;
    if (tgt && (tgt.tagName === "INPUT" || tgt.tagName === "TEXTAREA" || tgt.tagName === "SELECT" || tgt.isContentEditable)) return;
    if (document.querySelector(".overlay:not([hidden])")) return;
    const k = e.key.toLowerCase();
    if (["w", "a", "s", "d"].includes(k)) {
      e.preventDefault();
      if (down) {
        if (!this.keys.size) this.lastKeyTime = performance.now();
        this.keys.add(k);
        this.invalidate();
      } else this.keys.delete(k);
      return;
    }
    if (!down) return;
    const viewH = this.size.h - AXIS_H;
    switch (e.key) {
      case "ArrowUp": this.scrollBy(-40); break;
      case "ArrowDown": this.scrollBy(40); break;
      case "PageUp": this.scrollBy(-viewH * 0.9); break;
      case "PageDown": this.scrollBy(viewH * 0.9); break;
      case "ArrowLeft": this.setWindow(panByNs(this.window, -spanNs(this.window) * 0.2, this.bounds)); break;
      case "ArrowRight": this.setWindow(panByNs(this.window, spanNs(this.window) * 0.2, this.bounds)); break;
      case "f": case "F": {
        const d: EventDetails | null = this.details.details;
        if (d) this.setWindow(windowFit(d.start_ns, d.dur_ns, this.bounds));
        break;
      }
      case "0": this.setWindow({ t0_ns: this.bounds.start_ns, t1_ns: this.bounds.end_ns }); break;
      case "/": this.focusSearch(); break;
      case "n": void this.searchStep(1); break;
      case "N": void this.searchStep(-1); break;
      case "Escape": if (this.selectedId !== null) this.select(null); break;
      default: return;
    }
    e.preventDefault();
  }

  /** Apply held W/A/S/D for the time since the last frame; true while keys are held. */
  private stepKeys(now: number): boolean {
    if (!this.keys.size) return false;
    const dt = Math.min(0.05, Math.max(0, (now - this.lastKeyTime) / 1000));
    this.lastKeyTime = now;
    let w = this.window;
    const vp = this.viewport();
    const anchor = this.mouse && this.mouse.x >= GUTTER_W ? pxToTNs(vp, this.mouse.x - GUTTER_W) : (w.t0_ns + w.t1_ns) / 2;
    if (this.keys.has("w")) w = zoomAt(w, anchor, Math.exp(-KEY_ZOOM_PER_S * dt), this.bounds);
    if (this.keys.has("s")) w = zoomAt(w, anchor, Math.exp(KEY_ZOOM_PER_S * dt), this.bounds);
    if (this.keys.has("a")) w = panByNs(w, -spanNs(w) * KEY_PAN_PER_S * dt, this.bounds);
    if (this.keys.has("d")) w = panByNs(w, spanNs(w) * KEY_PAN_PER_S * dt, this.bounds);
    if (!sameWindow(w, this.window, 1e-6)) {
      this.window = w;
      this.scheduleUrl();
    }
    return true;
  }
}
