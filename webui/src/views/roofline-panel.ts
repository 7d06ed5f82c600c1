// The Roofline tab: log-log chart (uPlot) with the memory and compute roofs,
// the ridge point and one circle per op sized by its time share; hover shows
// the op, click selects it in the table below (sortable) and links onward;
// CSV download of the table.

import type { CollectivePoint, RooflinePoint, RooflineResponse } from "../api/wire";
import { paletteIndex, PALETTE_DARK, PALETTE_LIGHT } from "../lib/color";
import { formatBytes, formatBytesPerS, formatFlops, formatFlopsPerS, formatNs, formatOi, formatPct } from "../lib/format";
import { plottable, rooflineCsv } from "../lib/roofline";
import type { ViewState } from "../lib/viewstate";
import type { RooflineChart } from "../render/roofline-chart";
import { createRooflineChart } from "../render/roofline-chart";
import { h, replace } from "./dom";
import type { Panel, PanelContext } from "./panel";
import { emptyState, errorState, loading } from "./states";
import { sortableTable, type SortableTable } from "./table";

export class RooflinePanel implements Panel {
  readonly el = h("section", { class: "panel roofline-panel", "data-testid": "panel-roofline" });
  private data: RooflineResponse | null = null;
  private started = false;
  private level: "ops" | "programs" = "ops";
  private chart: RooflineChart<RooflinePoint> | null = null;
  private readonly chartHost = h("div", { class: "roofline-chart", "data-testid": "roofline-chart" });
  private readonly tip = h("div", { class: "tooltip", hidden: true, "data-testid": "roofline-tooltip" });
  private readonly info = h("div", { class: "muted roofline-info" });
  private table: SortableTable<RooflinePoint> | null = null;
  private readonly tableHost = h("div", { class: "table-scroll" });
  private readonly legend = h("div", { class: "legend", "data-testid": "roofline-legend" });
  private readonly collHost = h("div", { "data-testid": "roofline-collectives" });
  private resize: ResizeObserver | null = null;
  private unsub: (() => void) | null = null;
  private lastWidth = 0;

  constructor(private readonly ctx: PanelContext) {}

  show(): void {
    if (!this.started) {
      this.started = true;
      void this.load();
    } else this.build();
  }
  hide(): void {
    this.tip.hidden = true;
  }
  destroy(): void {
    this.chart?.destroy();
    this.resize?.disconnect();
    this.unsub?.();
  }
  update(v: ViewState): void {
    if (!this.data) return;
    this.highlight(v.module, v.op);
  }

  private points(): RooflinePoint[] {
    return this.data ? (this.level === "ops" ? this.data.ops : this.data.programs) : [];
  }

  private async load(): Promise<void> {
    replace(this.el, loading("roofline"));
    try {
      this.data = await this.ctx.api.roofline(this.ctx.profile.id);
    } catch (e) {
      replace(this.el, errorState(e, () => { this.started = false; this.show(); }));
      return;
    }
    const d = this.data;
    const levelSel = h("select", { class: "input", "aria-label": "Points", "data-testid": "roofline-level" },
      h("option", { value: "ops" }, "One point per op"), h("option", { value: "programs" }, "One point per program"));
    levelSel.addEventListener("change", () => {
      this.level = levelSel.value as "ops" | "programs";
      this.build();
    });
    const csv = h("button", { class: "btn", "data-testid": "roofline-csv", onclick: () => this.download() }, "Download CSV");
    const wrap = h("div", { class: "roofline-wrap" }, this.chartHost, this.tip);
    replace(this.el,
      h("div", { class: "toolbar" }, levelSel, csv, h("span", { class: "spacer" }), this.info),
      this.legend,
      wrap,
      h("h3", null, "Points"),
      this.tableHost,
      this.collHost);
    this.info.textContent = `Peaks: ${formatFlopsPerS(d.peaks.flops_per_s)}, ${formatBytesPerS(d.peaks.bytes_per_s)} (${d.peaks.device_kind || "device"}, ${d.peaks.source || "source unknown"}) · ridge at ${formatOi(d.ridge_oi)}`;
    this.buildCollectives(d.collectives ?? []);
    this.resize = new ResizeObserver(() => {
      const w = this.chartHost.clientWidth;
      if (w > 0 && Math.abs(w - this.lastWidth) > 2) this.build();
    });
    this.resize.observe(wrap);
    this.unsub = this.ctx.theme.subscribe(() => this.build());
    this.build();
  }

  private build(): void {
    if (!this.data) return;
    const width = this.chartHost.clientWidth;
    if (width <= 0) return; // hidden: built on show
    this.lastWidth = width;
    const pts = this.points();
    const plotted = pts.filter(plottable);
    this.chart?.destroy();
    this.chart = null;
    this.chartHost.innerHTML = "";
    this.chartHost.dataset.points = String(plotted.length);
    if (!(this.data.peaks.flops_per_s > 0 && this.data.peaks.bytes_per_s > 0)) {
      this.chartHost.append(emptyState("No peak FLOP/s or bandwidth is known for this device.", "The agent measures peaks at start (`xdiag.agent.start(...)`); profiles uploaded without an agent have none."));
    } else if (!plotted.length) {
      this.chartHost.append(emptyState("No op has both FLOPs and bytes, so nothing can be placed on the roofline.", "Costs come from the HLO cost model; check the HLO tab for this profile's modules."));
    } else {
      const dark = this.ctx.theme.get() === "dark";
      const pal = dark ? PALETTE_DARK : PALETTE_LIGHT;
      const colorOf = (p: RooflinePoint) => pal[paletteIndex(p.category ?? p.module)]!;
      // Legend: what the colours mean (categories here; modules per program).
      const keys = [...new Set(plotted.map((p) => p.category ?? p.module))].sort();
      replace(this.legend, h("span", { class: "muted" }, this.level === "ops" ? "Colour: op category" : "Colour: program"),
        ...keys.map((k) => h("span", { "data-testid": "roofline-legend-item" }, h("i", { style: `background:${pal[paletteIndex(k)]!}` }), k)),
        h("span", { title: "Above a roof by more than 5 %: the table's Check column says why" },
          h("i", { style: "background:transparent;border:1.5px dashed #d93025;border-radius:50%" }), "above a roof"));
      this.chart = createRooflineChart<RooflinePoint>(this.chartHost, {
        points: pts, peaks: this.data.peaks, width, height: 420, dark,
        colorOf,
        flagged: (p) => !!p.above_roof,
        onHover: (p, x, y) => this.hover(p, x, y),
        onClick: (p) => this.select(p),
      });
      const canvas = this.chartHost.querySelector("canvas");
      canvas?.setAttribute("data-testid", "roofline-canvas");
      const over = this.chartHost.querySelector(".u-over");
      over?.setAttribute("data-testid", "roofline-over");
    }
    const skipped = pts.length - plotted.length;
    const flagged = pts.filter((p) => p.above_roof).length;
    this.chartHost.append(h("p", { class: "muted small", "data-testid": "roofline-note" },
      `${plotted.length} points plotted; circle area is the op's share of device busy time (as on the Op profile); rates are over each op's run time.`
      + (skipped ? ` ${skipped} without FLOPs or bytes are listed in the table only.` : "")
      + (flagged ? ` ${flagged} above a roof, ringed in red: the Check column says why.` : "")
      + " Collectives are not compute or memory work: they are listed below against the interconnect."));
    this.buildTable(pts);
    const v = this.ctx.view();
    this.highlight(v.module, v.op);
  }

  private buildTable(pts: RooflinePoint[]): void {
    const byOp = this.level === "ops";
    this.table = sortableTable<RooflinePoint>([
      ...(byOp ? [{ key: "op", label: "Op", sort: (p: RooflinePoint) => p.op ?? "", render: (p: RooflinePoint) => h("button", { class: "linklike", type: "button", onclick: () => this.select(p) }, p.op ?? "") }] : []),
      { key: "module", label: "Module", sort: (p) => p.module, render: (p) => h("span", { class: "ellipsis", title: p.module }, p.module) },
      ...(byOp ? [{ key: "category", label: "Category", sort: (p: RooflinePoint) => p.category ?? "", render: (p: RooflinePoint) => p.category ?? "–" }] : []),
      { key: "share", label: "Self %", numeric: true, sort: (p) => p.share, render: (p) => formatPct(p.share), title: "Share of the devices' busy time spent in the op itself, as on the Op profile" },
      { key: "self", label: "Self time", numeric: true, sort: (p) => p.self_ns, render: (p) => formatNs(p.self_ns) },
      { key: "time", label: "Run time", numeric: true, sort: (p) => p.time_ns, render: (p) => formatNs(p.time_ns), title: "Inclusive run time of every occurrence: the rates are over it" },
      { key: "flops", label: "FLOPs", numeric: true, sort: (p) => p.flops, render: (p) => formatFlops(p.flops) },
      { key: "bytes", label: "Bytes", numeric: true, sort: (p) => p.bytes, render: (p) => formatBytes(p.bytes) },
      { key: "oi", label: "FLOP/B", numeric: true, sort: (p) => p.oi, render: (p) => formatOi(p.oi) },
      { key: "fps", label: "FLOP/s", numeric: true, sort: (p) => p.flops_per_s, render: (p) => formatFlopsPerS(p.flops_per_s) },
      { key: "bps", label: "Bandwidth", numeric: true, sort: (p) => p.bytes_per_s, render: (p) => formatBytesPerS(p.bytes_per_s) },
      { key: "bound", label: "Bound by", sort: (p) => p.bound_by, render: (p) => h("span", { class: `tag tag-${p.bound_by}` }, p.bound_by) },
      { key: "eff", label: "Efficiency", numeric: true, sort: (p) => p.efficiency, render: (p) => formatPct(p.efficiency), title: "Achieved / attainable at this intensity" },
      { key: "check", label: "Check", sort: (p) => (p.above_roof ? 1 : 0), render: (p) => (p.above_roof ? h("span", { class: "tag tag-warn", title: p.reason ?? "", "data-testid": "roofline-flag" }, `above ${p.above_roof} roof`) : ""), title: "Points above a roof (by more than 5 %), with the likeliest reason on hover" },
      { key: "links", label: "", render: (p) => h("a", { href: this.ctx.href({ tab: "hlo", module: p.module, op: p.op }) }, "HLO") },
    ], {
      sortKey: "share", desc: true, testid: "roofline-table",
      rowAttrs: (p) => ({ "data-testid": "roofline-row", "data-op": p.op ?? "", "data-module": p.module }),
    });
    this.table.setRows(pts);
    replace(this.tableHost, this.table.el);
  }

  private buildCollectives(rows: CollectivePoint[]): void {
    if (!rows.length) {
      replace(this.collHost);
      return;
    }
    const pk = this.data!.peaks;
    const t = sortableTable<CollectivePoint>([
      { key: "op", label: "Collective", sort: (c) => c.op, render: (c) => h("a", { href: this.ctx.href({ tab: "ops", module: c.module, op: c.op }) }, c.op) },
      { key: "share", label: "Self %", numeric: true, sort: (c) => c.share, render: (c) => formatPct(c.share) },
      { key: "wait", label: "Waiting", numeric: true, sort: (c) => c.wait_ns, render: (c) => formatNs(c.wait_ns), title: "Time from a device's arrival to the last device's arrival: waiting for the others, not moving data" },
      { key: "xfer", label: "Transfer", numeric: true, sort: (c) => c.transfer_ns, render: (c) => formatNs(c.transfer_ns), title: "Time after the last device arrived: the data movement itself" },
      { key: "bytes", label: "Payload", numeric: true, sort: (c) => c.bytes, render: (c) => formatBytes(c.bytes), title: "Bytes each device sends or receives (the larger), all occurrences" },
      { key: "bw", label: "Achieved", numeric: true, sort: (c) => c.bytes_per_s, render: (c) => formatBytesPerS(c.bytes_per_s), title: "Payload per second of transfer" },
      { key: "eff", label: "of peak", numeric: true, sort: (c) => c.efficiency, render: (c) => formatPct(c.efficiency) },
      { key: "bound", label: "Bound by", sort: (c) => c.bound_by, render: (c) => (c.bound_by ? h("span", { class: `tag tag-${c.bound_by}` }, c.bound_by) : "–") },
    ], { sortKey: "share", desc: true, testid: "collectives-table", rowAttrs: (c) => ({ "data-testid": "collective-row", "data-op": c.op }) });
    t.setRows(rows);
    const peak = pk.interconnect_bytes_per_s ? `${formatBytesPerS(pk.interconnect_bytes_per_s)} (${pk.interconnect_source ?? ""})` : "unknown for this device";
    replace(this.collHost, h("h3", null, "Collectives"),
      h("p", { class: "muted small" }, `Interconnect peak: ${peak}. Waiting is time a device spent before the last participant arrived; only the rest moves data.`),
      h("div", { class: "table-scroll" }, t.el));
  }

  private hover(p: RooflinePoint | null, x: number, y: number): void {
    if (!p) {
      this.tip.hidden = true;
      return;
    }
    replace(this.tip,
      h("strong", null, p.op ?? p.module),
      p.op ? h("div", { class: "muted" }, p.module) : null,
      h("div", null, `${formatPct(p.share)} of busy time (self ${formatNs(p.self_ns)}; run ${formatNs(p.time_ns)})`),
      h("div", null, `${formatFlopsPerS(p.flops_per_s)} at ${formatOi(p.oi)}`),
      h("div", null, `${p.bound_by}-bound, ${formatPct(p.efficiency)} of the roof`),
      p.reason ? h("div", { class: "warn" }, `Above the ${p.above_roof} roof: ${p.reason}`) : null,
      h("div", { class: "muted" }, "click to select"));
    this.tip.hidden = false;
    const over = this.chartHost.querySelector(".u-over") as HTMLElement | null;
    const ox = over ? over.offsetLeft : 0;
    const oy = over ? over.offsetTop : 0;
    this.tip.style.transform = `translate(${Math.min(ox + x + 14, this.chartHost.clientWidth - 220)}px, ${oy + y + 14}px)`;
  }

  private select(p: RooflinePoint): void {
    this.ctx.setView({ module: p.module, op: p.op });
    this.highlight(p.module, p.op);
    this.tableHost.querySelector("tr.selected")?.scrollIntoView({ block: "nearest" });
  }

  private highlight(module?: string, op?: string): void {
    const pts = this.points();
    const p = pts.find((x) => x.module === module && (this.level === "programs" || x.op === op)) ?? null;
    this.chart?.highlight(p);
    for (const tr of this.tableHost.querySelectorAll("tr[data-testid=roofline-row]")) {
      const el = tr as HTMLElement;
      const on = !!p && el.dataset.module === p.module && (this.level === "programs" || el.dataset.op === (p.op ?? ""));
      el.classList.toggle("selected", on);
    }
  }

  private download(): void {
    const blob = new Blob([rooflineCsv(this.table?.rows() ?? this.points())], { type: "text/csv" });
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: `roofline-${this.ctx.profile.id.replace(/[^\w.-]+/g, "_")}-${this.level}.csv` });
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
  }
}
