// Details of one event (GET events/<id>): every stat, derived rates, and links
// to the op in the op profile and to its HLO graph.

import { isAbort } from "../../api/client";
import type { EventDetails, Track } from "../../api/wire";
import { formatBytes, formatBytesPerS, formatCount, formatEventTimes, formatFlops, formatFlopsPerS } from "../../lib/format";
import { h, replace } from "../dom";
import type { PanelContext } from "../panel";
import { errorState, loading } from "../states";

export class DetailsPanel {
  readonly el = h("aside", { class: "details", "data-testid": "details-panel", "aria-label": "Event details", hidden: true });
  private controller: AbortController | null = null;
  private shownId: number | null = null;
  details: EventDetails | null = null;

  constructor(
    private readonly ctx: PanelContext,
    private readonly actions: { onClose: () => void; onZoom: (d: EventDetails) => void; track?: (id: number) => Track | undefined },
  ) {}

  async show(eventId: number): Promise<void> {
    if (this.shownId === eventId && !this.el.hidden) return;
    this.shownId = eventId;
    this.el.hidden = false;
    this.controller?.abort();
    const controller = (this.controller = new AbortController());
    replace(this.el, this.header(`Event ${eventId}`), loading("event details"));
    try {
      const d = await this.ctx.api.event(this.ctx.profile.id, eventId, controller.signal);
      if (controller.signal.aborted) return;
      this.details = d;
      this.render(d);
    } catch (e) {
      if (isAbort(e)) return;
      replace(this.el, this.header(`Event ${eventId}`), errorState(e, () => {
        this.shownId = null;
        void this.show(eventId);
      }));
    }
  }

  hide(): void {
    this.controller?.abort();
    this.shownId = null;
    this.details = null;
    this.el.hidden = true;
  }

  private header(title: string): HTMLElement {
    return h("div", { class: "details-head" },
      h("h3", { "data-testid": "details-title", title }, title),
      h("button", { class: "btn icon", "aria-label": "Close details (Esc)", title: "Close (Esc)", onclick: () => this.actions.onClose() }, "✕"));
  }

  private render(d: EventDetails): void {
    const secs = d.dur_ns / 1e9;
    // Start and end with the digits that tell them apart (a 1.53 µs op at 122 ms:
    // 122.004 310 / 122.005 840 ms); the exact ns are in the tooltip.
    const t = formatEventTimes(d.start_ns, d.dur_ns);
    const track = this.actions.track?.(d.track);
    // A row is where the slice is drawn: a nesting level, or on a lanes track (kernels
    // that overlap without nesting) the first free lane; it says nothing about the op.
    const row = track?.lanes ? `lane ${d.depth + 1}` : `${d.depth + 1}`;
    const rows: [string, string, string?][] = [
      ["Duration", t.dur, `${formatCount(d.dur_ns)} ns`],
      ["Start", t.start, `${formatCount(d.start_ns)} ns from the profile's start`],
      ["End", t.end, `${formatCount(d.start_ns + d.dur_ns)} ns from the profile's start`],
      ["Host", d.host],
      ["Track", track?.name ?? String(d.track)],
      ["Row", row, track?.lanes ? "Lanes hold slices that overlap without nesting; lane 1 is the top one" : "Row 1 is the track's top row; a slice below another on the track runs inside it"],
    ];
    if (d.category) rows.push(["Category", d.category]);
    if (d.scope) rows.push(["JAX scope", d.scope]);
    if (d.flops !== null && d.flops !== undefined) {
      rows.push(["FLOPs", formatFlops(d.flops)]);
      if (secs > 0) rows.push(["FLOP/s", formatFlopsPerS(d.flops / secs)]);
    }
    if (d.bytes !== null && d.bytes !== undefined) {
      rows.push(["Bytes accessed", formatBytes(d.bytes)]);
      if (secs > 0) rows.push(["Bandwidth", formatBytesPerS(d.bytes / secs)]);
    }
    const links: HTMLElement[] = [];
    if (d.hlo) {
      rows.push(["HLO module", d.hlo.module], ["HLO op", d.hlo.op]);
      if (d.hlo.program_id !== null && d.hlo.program_id !== undefined) rows.push(["Program id", String(d.hlo.program_id)]);
      links.push(
        h("a", { class: "btn", href: this.ctx.href({ tab: "ops", module: d.hlo.module, op: d.hlo.op }), "data-testid": "details-op-link" }, "Op profile"),
        h("a", { class: "btn", href: this.ctx.href({ tab: "hlo", module: d.hlo.module, op: d.hlo.op }), "data-testid": "details-hlo-link" }, "HLO graph"),
      );
    }
    const stats = Object.entries(d.stats ?? {}).sort(([a], [b]) => a.localeCompare(b));
    replace(this.el,
      this.header(d.name),
      h("div", { class: "details-actions" },
        h("button", { class: "btn", onclick: () => this.actions.onZoom(d), title: "Zoom to this slice (F)" }, "Zoom to slice"), ...links),
      h("table", { class: "kv", "data-testid": "details-kv" }, h("tbody", null, ...rows.map(([k, v, title]) =>
        h("tr", { "data-key": k }, h("th", null, k), h("td", { title: title ?? null }, v))))),
      stats.length
        ? h("details", { open: true, class: "details-stats" },
            h("summary", null, `Stats (${stats.length})`),
            h("table", { class: "kv", "data-testid": "details-stats" }, h("tbody", null,
              ...stats.map(([k, v]) => h("tr", null, h("th", null, k), h("td", null, v === null ? "–" : String(v)))))))
        : null,
    );
  }
}
