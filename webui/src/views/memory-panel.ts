// The Memory tab: for one program (picker, default: the one that ran the most
// time) the compiler's buffer assignment: peak heap, unpadded peak, entry
// parameters, live-out, headroom against the device's capacity; the heap over
// program order with the peak marked; what fills the peak by category and by
// JAX named scope; the buffers live at the peak (sortable, filterable; click
// one to shade its live range, its instruction opens the HLO graph at it, and
// "timeline" opens the trace at its first occurrence). Below, the allocators'
// bytes in use over time (memory profile), or why there are none.

import { isAbort } from "../api/client";
import type { MemoryAllocator, MemoryAllocators, MemoryBuffer, MemoryProgram, MemoryProgramSummary, MemorySummary } from "../api/wire";
import { formatBytes, formatCount, formatNs, formatPct } from "../lib/format";
import { bufferMatches, exactMatch, groupRows, headroomText, hloModuleKey, inGroup, peakMarker, pickProgram, programLabel, runsOnDevice, sourceLabel, windowAround } from "../lib/memory";
import type { ViewState } from "../lib/viewstate";
import { chartColors, createAllocatorChart, createHeapChart, type MemoryChart } from "../render/memory-chart";
import { h, replace } from "./dom";
import type { Panel, PanelContext } from "./panel";
import { emptyState, errorState, loading, toast } from "./states";
import { sortableTable, type SortableTable } from "./table";

const CHART_H = 300;
const ALLOC_H = 240;
const LIMIT = 200;
const MAX_LIMIT = 5000;

const CATEGORY_HELP: Record<string, string> = {
  parameter: "entry parameters (inputs, weights passed in)",
  optimizer_state: "entry parameters that are also live-out (state carried from step to step)",
  output: "the program's live-out results",
  temporary: "activations and temporaries: allocated and freed inside the program",
  constant: "constants baked into the program",
  thread_local: "thread-local scratch",
};

type GroupFilter = { kind: "category" | "scope"; key: string } | null;

/** A "not available because …" sentence from the server, shown as is (it says why and what to do). */
function unavailable(reason: string | null | undefined, testid = "memory-unavailable"): HTMLElement {
  return h("div", { "data-testid": testid }, emptyState(reason || "not available because the server gave no reason"));
}

/** A capacity label's head ("host RAM (CPU capture; …)" -> "host RAM"): the card shows it, the tooltip all of it. */
function shortLabel(label: string): string {
  const i = label.indexOf(" (");
  return i > 0 ? label.slice(0, i) : label;
}

/** The chart's key: what each line and mark means (uPlot's own legend is off). */
function chartLegend(dark: boolean, items: { label: string; kind: "line" | "dashed" | "peak" | "band" | "limit"; color?: keyof ReturnType<typeof chartColors> }[]): HTMLElement {
  const c = chartColors(dark);
  const swatch = (kind: string, color: string) =>
    kind === "peak" ? h("i", { style: `background:${color};border-radius:50%` })
      : kind === "band" ? h("i", { style: `background:${color}` })
        : h("i", { style: `background:transparent;border-top:2px ${kind === "line" ? "solid" : "dashed"} ${color};border-radius:0;height:0;width:16px;vertical-align:3px` });
  return h("div", { class: "legend" }, ...items.map((it) => h("span", null, swatch(it.kind, c[it.color ?? "line"]), it.label)));
}

export class MemoryPanel implements Panel {
  readonly el = h("section", { class: "panel memory-panel", "data-testid": "panel-memory" });
  private started = false;
  private summary: MemorySummary | null = null;
  private current: MemoryProgramSummary | null = null;
  private program: MemoryProgram | null = null;
  private allocators: MemoryAllocators | null = null;
  private allocName: string | null = null;
  private limit = LIMIT;
  private space: number | null = null;
  private group: GroupFilter = null;
  /** "other (n groups)" opened: every group listed. */
  private allGroups = false;
  private filterText = "";
  private controller: AbortController | null = null;
  private heapChart: MemoryChart | null = null;
  private allocChart: MemoryChart | null = null;
  private table: SortableTable<MemoryBuffer> | null = null;
  private resize: ResizeObserver | null = null;
  private unsub: (() => void) | null = null;
  private lastWidth = 0;
  /** The peak as drawn: position, bytes, instruction. */
  private marker: { position: number; bytes: number; instruction: string } | null = null;

  private readonly programSel = h("select", { class: "input", "aria-label": "Program", "data-testid": "memory-program" });
  private readonly spaceSel = h("select", { class: "input", "aria-label": "Memory space", "data-testid": "memory-space", hidden: true });
  private readonly info = h("span", { class: "muted small", "data-testid": "memory-info" });
  private readonly body = h("div", { class: "memory-body" });
  private readonly cards = h("div", { class: "cards", "data-testid": "memory-cards" });
  private readonly heapHost = h("div", { class: "memory-chart", "data-testid": "memory-heap-chart" });
  private readonly heapLegend = h("div");
  private readonly allocLegend = h("div");
  private readonly readout = h("div", { class: "muted small memory-readout", "data-testid": "memory-readout" });
  private readonly groupsHost = h("div", { class: "memory-groups", "data-testid": "memory-groups" });
  private readonly tableHost = h("div", { class: "table-scroll" });
  private readonly tableNote = h("span", { class: "muted small", "data-testid": "memory-buffers-note" });
  private readonly chip = h("span", { class: "chip", hidden: true, "data-testid": "memory-group-filter" });
  private readonly filter = h("input", { type: "search", class: "input", placeholder: "Filter: instruction, shape, scope, source", style: "min-width:340px", "aria-label": "Filter buffers", "data-testid": "memory-filter" });
  private readonly allocHost = h("div", { "data-testid": "memory-allocators" });
  private readonly allocChartHost = h("div", { class: "memory-chart", "data-testid": "memory-alloc-chart" });

  constructor(private readonly ctx: PanelContext) {
    this.programSel.addEventListener("change", () => {
      this.ctx.setView({ module: this.programSel.value, op: undefined }, true);
    });
    this.spaceSel.addEventListener("change", () => {
      this.space = Number(this.spaceSel.value);
      if (this.current) void this.loadProgram(this.current);
    });
    this.filter.addEventListener("input", () => {
      this.filterText = this.filter.value;
      this.fillTable();
    });
  }

  show(): void {
    if (!this.started) {
      this.started = true;
      void this.load();
    } else this.drawCharts();
  }
  hide(): void {}
  destroy(): void {
    this.controller?.abort();
    this.heapChart?.destroy();
    this.allocChart?.destroy();
    this.resize?.disconnect();
    this.unsub?.();
  }
  update(v: ViewState): void {
    if (!this.summary?.available) return;
    const next = pickProgram(this.summary.programs, this.summary.default_program, v.module);
    if (next && next.id !== this.current?.id) {
      this.space = null;
      this.limit = LIMIT;
      this.group = null;
      void this.loadProgram(next);
    } else this.select(v.op);
  }

  private async load(): Promise<void> {
    replace(this.el, loading("memory"));
    try {
      this.summary = await this.ctx.api.memory(this.ctx.profile.id);
    } catch (e) {
      replace(this.el, errorState(e, () => { this.started = false; this.show(); }));
      return;
    }
    const s = this.summary;
    if (!s.available || !s.programs.length) {
      const why = s.reason ?? "not available because this profile has no HLO programs (no HLO protos in the capture)";
      replace(this.el, unavailable(why));
      // The allocators may still be there (a capture without HLO protos); the same sentence twice says nothing.
      if (s.allocators?.reason !== why) {
        this.el.append(h("h3", null, "Allocators over time (memory profile)"), this.allocHost);
        void this.loadAllocators();
      }
      return;
    }
    const total = s.programs.reduce((a, p) => a + Math.max(0, p.ran_ns), 0);
    replace(this.programSel, ...s.programs.map((p) => h("option", { value: p.id }, programLabel(p, total))));
    replace(this.el,
      h("div", { class: "toolbar" }, h("label", null, "Program", this.programSel), this.spaceSel, h("span", { class: "spacer" }), this.info),
      this.body,
      h("h3", null, "Allocators over time (memory profile)"),
      this.allocHost);
    this.resize = new ResizeObserver(() => {
      const w = this.heapHost.clientWidth || this.allocChartHost.clientWidth;
      if (w > 0 && Math.abs(w - this.lastWidth) > 2) this.drawCharts();
    });
    this.resize.observe(this.el);
    this.unsub = this.ctx.theme.subscribe(() => this.drawCharts());
    const first = pickProgram(s.programs, s.default_program, this.ctx.view().module)!;
    void this.loadAllocators();
    await this.loadProgram(first);
  }

  private async loadProgram(p: MemoryProgramSummary): Promise<void> {
    this.current = p;
    this.programSel.value = p.id;
    this.controller?.abort();
    const controller = (this.controller = new AbortController());
    this.heapChart?.destroy();
    this.heapChart = null;
    if (!p.available) {
      this.program = null;
      this.info.textContent = "";
      replace(this.body, unavailable(p.reason));
      return;
    }
    replace(this.body, loading(`buffer assignment of ${p.id}`));
    let prog: MemoryProgram;
    try {
      prog = await this.ctx.api.memoryProgram(this.ctx.profile.id, p.id, { memorySpace: this.space, limit: this.limit, host: p.host ?? null }, controller.signal);
    } catch (e) {
      if (isAbort(e)) return;
      replace(this.body, errorState(e, () => void this.loadProgram(p)));
      return;
    }
    if (controller.signal.aborted) return;
    this.program = prog;
    if (!prog.available) {
      replace(this.body, unavailable(prog.reason));
      return;
    }
    this.renderProgram(prog);
  }

  private renderProgram(m: MemoryProgram): void {
    const pm = peakMarker(m.heap?.position ?? [], m.heap?.heap_bytes ?? [], m.peak_point ?? m.peak_position, m.peak_heap_bytes);
    this.marker = { position: pm.position, bytes: pm.bytes, instruction: (pm.index >= 0 ? m.heap.instruction?.[pm.index] : "") || m.peak_instruction || "" };
    const peakAt = this.marker.instruction;
    const spaces = m.memory_spaces ?? [];
    this.spaceSel.hidden = spaces.length < 2;
    replace(this.spaceSel, ...spaces.map((s) => h("option", { value: String(s) }, s === 0 ? "memory space 0 (device memory)" : `memory space ${s}`)));
    this.spaceSel.value = String(m.memory_space ?? 0);
    this.info.textContent = `${m.host ? `host ${m.host} · ` : ""}${m.fingerprint ? `fingerprint ${m.fingerprint.slice(0, 12)}` : ""}`;

    const card = (label: string, value: string, title: string, testid?: string, sub?: string) =>
      h("div", { class: "card", title, "data-testid": testid },
        h("div", { class: "card-label" }, label), h("div", { class: "card-value" }, value),
        sub ? h("div", { class: "card-sub muted small" }, sub) : null);
    const exact = (b: number | null | undefined) => (b == null ? "unknown" : `${b.toLocaleString("en-US")} bytes`);
    const cap = m.capacity ?? this.summary?.capacity ?? null;
    const headroom = m.headroom_bytes ?? (cap?.bytes ? cap.bytes - m.peak_heap_bytes : null);
    replace(this.cards,
      card("Peak heap", formatBytes(m.peak_heap_bytes),
        `${exact(m.peak_heap_bytes)}, at position ${this.marker.position.toLocaleString("en-US")}${peakAt ? ` (${peakAt})` : ""} of program order; parameters, live-out and constants included`,
        "memory-peak", peakAt ? `at ${peakAt}` : undefined),
      card("Unpadded peak", formatBytes(m.peak_unpadded_heap_bytes), `${exact(m.peak_unpadded_heap_bytes)}: the same buffers without layout padding`, "memory-unpadded",
        m.peak_heap_bytes > 0 ? `padding ${formatPct(1 - m.peak_unpadded_heap_bytes / m.peak_heap_bytes)}` : undefined),
      card("Entry parameters", formatBytes(m.entry_parameters_bytes), exact(m.entry_parameters_bytes), "memory-params"),
      card("Maybe live-out", formatBytes(m.maybe_live_out_bytes), `${exact(m.maybe_live_out_bytes)}: outputs that may outlive the program`, "memory-liveout"),
      m.temporaries_peak_bytes != null
        ? card("Temporaries at peak", formatBytes(m.temporaries_peak_bytes), `${exact(m.temporaries_peak_bytes)}: the heap simulation's own peak (peak heap minus what lives through the whole program)`, "memory-temps")
        : null,
      card("Buffers at peak", formatCount(m.buffers_at_peak), "Logical buffers live at the peak position", "memory-count"),
      card("Headroom", headroom == null ? "unknown" : headroom < 0 ? `−${formatBytes(-headroom)}` : formatBytes(headroom),
        cap?.bytes ? `${headroomText(cap.bytes, m.peak_heap_bytes)}; capacity from ${cap.label}` : "No capacity is known for this device (no allocator events, no table entry, no host RAM figure)",
        "memory-headroom", cap?.bytes ? `of ${formatBytes(cap.bytes)} · ${shortLabel(cap.label)}` : "capacity unknown"),
    );

    const heap = m.heap;
    const hasChart = heap && heap.available !== false && heap.position.length > 0;
    replace(this.body,
      this.cards,
      h("h3", null, "Heap over program order"),
      hasChart
        ? h("div", null, this.heapLegend, this.heapHost, this.readout,
          h("p", { class: "muted small", "data-testid": "memory-heap-note" },
            `Heap size after each step of the compiler's heap simulation (${formatCount(heap.total_points)} points${heap.downsampled ? `, ${formatCount(heap.position.length)} drawn: the largest of each bucket, the peak kept` : ""}). `
            + (m.indefinite_bytes ? `It includes ${formatBytes(m.indefinite_bytes)} that live through the whole program (parameters, live-out, constants). ` : "")
            + "Click a buffer below to shade its live range."))
        : unavailable(heap?.reason ? heap.reason : m.heap_simulation === false
          ? "not available because the compiler recorded no heap simulation for this program: only the buffers that live through the whole program (parameters, outputs, constants) are known, listed below"
          : "not available because the heap simulation of this program is empty", "memory-heap-unavailable"),
      h("h3", null, "What fills the peak"),
      this.groupsHost,
      h("h3", null, "Buffers live at the peak"),
      h("div", { class: "toolbar" }, this.filter, this.chip, h("span", { class: "spacer" }), this.tableNote),
      this.tableHost);
    this.renderGroups(m);
    this.buildTable(m);
    this.drawCharts();
    this.select(this.ctx.view().op);
  }

  private renderGroups(m: MemoryProgram): void {
    const block = (title: string, kind: "category" | "scope", groups: { key: string; bytes: number; count: number }[]) => {
      const rows = groupRows(groups, m.peak_heap_bytes, this.allGroups ? Infinity : 10);
      return h("div", { class: "memory-group", "data-testid": `memory-groups-${kind}` },
        h("h4", null, title),
        rows.length
          ? h("table", { class: "table compact" },
            h("thead", null, h("tr", null, h("th", null, kind === "category" ? "Category" : "Named scope"),
              h("th", { class: "num" }, "Bytes"), h("th", { class: "num" }, "of peak"), h("th", { class: "num" }, "Buffers"))),
            h("tbody", null, ...rows.map((r) => h("tr", { "data-testid": "memory-group-row", "data-key": r.key },
              h("td", null, r.folded
                ? h("button", { class: "linklike muted", type: "button", "data-testid": "memory-groups-all", title: "List every group", onclick: () => { this.allGroups = true; this.renderGroups(m); } }, `${r.key} ▸`)
                : h("button", {
                  class: "linklike", type: "button", title: kind === "category" ? (CATEGORY_HELP[r.key] ?? r.key) : `Show the buffers under ${r.key}`,
                  onclick: () => this.setGroup({ kind, key: r.key }),
                }, r.key)),
              h("td", { class: "num", title: `${r.bytes.toLocaleString("en-US")} bytes` }, formatBytes(r.bytes)),
              h("td", { class: "num" }, h("span", { class: "bar", style: `--w:${(Math.min(1, r.share) * 100).toFixed(1)}%` }), formatPct(r.share)),
              h("td", { class: "num" }, formatCount(r.count))))))
          : h("p", { class: "muted small" }, "no buffers"));
    };
    const sp = [...(m.groups?.scope_peaks ?? [])].sort((a, b) => b.bytes - a.bytes).slice(0, 10);
    replace(this.groupsHost,
      block("By category", "category", m.groups?.by_category ?? []),
      block("By JAX named scope", "scope", m.groups?.by_scope ?? []),
      sp.length
        ? h("div", { class: "memory-group", "data-testid": "memory-scope-peaks" },
          h("h4", { title: "The largest total of a scope's temporaries live at the same time, wherever in the program it happens (not only at the peak)" }, "Each scope's own peak"),
          h("table", { class: "table compact" },
            h("thead", null, h("tr", null, h("th", null, "Named scope"), h("th", { class: "num" }, "Largest at once"), h("th", { class: "num" }, "vs program peak"))),
            h("tbody", null, ...sp.map((r) => h("tr", null, h("td", null, r.key),
              h("td", { class: "num", title: `${r.bytes.toLocaleString("en-US")} bytes` }, formatBytes(r.bytes)),
              h("td", { class: "num" }, formatPct(m.peak_heap_bytes > 0 ? r.bytes / m.peak_heap_bytes : 0)))))))
        : null);
  }

  private setGroup(g: GroupFilter): void {
    this.group = g;
    if (g) {
      replace(this.chip, `${g.kind === "category" ? "category" : "scope"}: ${g.key} `,
        h("button", { class: "linklike", type: "button", "aria-label": "Clear the group filter", onclick: () => this.setGroup(null) }, "×"));
      this.chip.hidden = false;
    } else this.chip.hidden = true;
    const m = this.program;
    // A group's buffers may lie beyond the largest loaded: load them all first, so the
    // table lists as many as the group's count says.
    if (g && m?.available && m.buffers_at_peak > m.buffers.length && this.limit < MAX_LIMIT && this.current) {
      this.limit = MAX_LIMIT;
      void this.loadProgram(this.current);
      return;
    }
    this.fillTable();
  }

  private buildTable(m: MemoryProgram): void {
    const peak = m.peak_heap_bytes;
    this.table = sortableTable<MemoryBuffer>([
      { key: "size", label: "Size", numeric: true, sort: (b) => b.size_bytes, title: "Allocated size, padding included (exact bytes on hover)",
        render: (b) => h("span", { title: `${b.size_bytes.toLocaleString("en-US")} bytes${b.unpadded_bytes != null && b.unpadded_bytes !== b.size_bytes ? `; ${b.unpadded_bytes.toLocaleString("en-US")} unpadded` : ""}` }, formatBytes(b.size_bytes)) },
      { key: "share", label: "of peak", numeric: true, sort: (b) => b.size_bytes, render: (b) => formatPct(peak > 0 ? b.size_bytes / peak : 0) },
      { key: "shape", label: "Shape", sort: (b) => b.shape, render: (b) => h("code", { class: "ellipsis", title: b.shape }, b.shape) },
      { key: "category", label: "Category", sort: (b) => b.category, render: (b) => h("span", { class: `tag tag-mem-${b.category}`, title: CATEGORY_HELP[b.category] ?? "" }, b.category) },
      { key: "instruction", label: "Defined by", sort: (b) => b.instruction, title: "The HLO instruction that defines the buffer: opens the HLO graph at it",
        render: (b) => h("span", null,
          h("a", { href: this.hloHref(b), class: "ellipsis mem-instr", "data-testid": "memory-buffer-hlo", title: `${b.opcode ? `${b.opcode}: ` : ""}open ${b.instruction} in the HLO graph` }, b.instruction),
          b.shape_index && b.shape_index.length ? h("span", { class: "muted small" }, ` {${b.shape_index.join(",")}}`) : null) },
      { key: "scope", label: "JAX scope / op", sort: (b) => b.scope_path || b.scope || b.op_name || "",
        render: (b) => h("span", { class: "ellipsis", title: [b.scope_path ? `scopes: ${b.scope_path}` : "", b.op_name ? `op: ${b.op_name}` : ""].filter(Boolean).join("\n") }, b.scope ? h("strong", null, b.scope_path || b.scope) : null,
          b.op_name ? h("span", { class: "muted small" }, ` ${b.op_name}`) : b.scope ? null : h("span", { class: "muted" }, "–")) },
      { key: "source", label: "Source", sort: (b) => sourceLabel(b.source).full,
        render: (b) => { const s = sourceLabel(b.source); return s.short ? h("span", { class: "ellipsis mono", title: b.source?.stack?.length ? b.source.stack.join("\n") : s.full }, s.short) : h("span", { class: "muted" }, "–"); } },
      { key: "live", label: "Live", numeric: true, sort: (b) => (b.live ? b.live[1] - b.live[0] : Infinity),
        title: "Live range: the positions in program order (the heap simulation) where the buffer is allocated and freed",
        render: (b) => (b.live ? `${b.live[0].toLocaleString("en-US")} – ${b.live[1].toLocaleString("en-US")}` : h("span", { class: "muted" }, "whole program")) },
      { key: "links", label: "", render: (b) => !runsOnDevice(b.opcode, b.category) ? "" : h("a", { href: this.traceHref(b), "data-testid": "memory-buffer-trace", title: `Find ${b.instruction} in the timeline`, onclick: (e: MouseEvent) => this.openTrace(e, b) }, "timeline") },
    ], {
      sortKey: "size", desc: true, testid: "memory-buffers",
      rowAttrs: (b) => ({ "data-testid": "memory-buffer-row", "data-op": b.instruction, "data-id": b.id, onclick: (e: MouseEvent) => this.onRowClick(e, b) }),
    });
    this.fillTable();
    replace(this.tableHost, this.table.el);
  }

  private fillTable(): void {
    const m = this.program;
    if (!m?.available || !this.table) return;
    const g = this.group;
    const rows = m.buffers.filter((b) => bufferMatches(b, this.filterText) && (!g || inGroup(b, g.kind, g.key)));
    this.table.setRows(rows);
    const more = m.buffers_at_peak > m.buffers.length;
    replace(this.tableNote,
      rows.length === m.buffers.length
        ? `${formatCount(m.buffers.length)} ${more ? "largest " : ""}of ${formatCount(m.buffers_at_peak)} buffers live at the peak`
        : `${formatCount(rows.length)} shown (filtered) of the ${formatCount(m.buffers.length)} ${more ? "largest " : ""}of ${formatCount(m.buffers_at_peak)} live at the peak`,
      more && this.limit < MAX_LIMIT
        ? h("button", { class: "btn small", type: "button", "data-testid": "memory-more", onclick: () => { this.limit = MAX_LIMIT; if (this.current) void this.loadProgram(this.current); } },
          `Load up to ${formatCount(MAX_LIMIT)}`)
        : null);
    this.select(this.ctx.view().op);
  }

  private hloHref(b: MemoryBuffer): string {
    const p = this.current;
    return this.ctx.href({ tab: "hlo", module: p ? hloModuleKey(p, this.summary?.programs ?? [p]) : this.program?.id, op: b.instruction });
  }
  private traceHref(b: MemoryBuffer): string {
    return this.ctx.href({ tab: "trace", q: b.instruction });
  }

  private onRowClick(e: MouseEvent, b: MemoryBuffer): void {
    if ((e.target as HTMLElement).closest("a,button")) return;
    this.ctx.setView({ op: b.instruction });
  }

  /** Open the trace at the op's first occurrence (its exact name: the search also finds fusion.31 for fusion.3), all occurrences in the search list. */
  private async openTrace(e: MouseEvent, b: MemoryBuffer): Promise<void> {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    e.stopPropagation();
    try {
      const r = await this.ctx.api.search(this.ctx.profile.id, b.instruction, null, 200);
      const m = exactMatch(r.matches, b.instruction);
      if (!m) {
        toast(`${b.instruction} has no event in this capture's timeline (${b.category === "parameter" ? "a parameter does not run" : "it did not run while the profiler recorded, or ran inside a fusion"}).`);
        return;
      }
      const w = windowAround(m.start_ns, m.dur_ns);
      this.ctx.setView({ tab: "trace", q: b.instruction, sel: m.id, t0: w.t0, t1: w.t1 }, true);
    } catch (err) {
      toast(`search failed: ${(err as Error).message}`, "error");
    }
  }

  /** Highlight the buffers of an op and shade the live range of the largest. */
  private select(op: string | undefined): void {
    const m = this.program;
    if (!m?.available) return;
    const hit = op ? m.buffers.find((b) => b.instruction === op) ?? null : null;
    for (const tr of this.tableHost.querySelectorAll<HTMLElement>("tr[data-testid=memory-buffer-row]")) {
      tr.classList.toggle("selected", !!op && tr.dataset.op === op);
    }
    this.heapChart?.band(hit?.live ?? null);
    if (hit) this.readout.textContent = `${hit.instruction}: ${formatBytes(hit.size_bytes)} ${hit.shape}, ${hit.live ? `live from position ${hit.live[0].toLocaleString("en-US")} to ${hit.live[1].toLocaleString("en-US")} (shaded)` : "live through the whole program"}`;
  }

  private hover(idx: number | null): void {
    const heap = this.program?.heap;
    if (!heap || idx === null || idx < 0 || idx >= heap.position.length) return;
    const ins = heap.instruction?.[idx];
    this.readout.textContent = `position ${heap.position[idx]!.toLocaleString("en-US")}${ins ? ` · ${ins}` : ""} · heap ${formatBytes(heap.heap_bytes[idx]!)}`
      + (heap.unpadded_bytes ? ` · unpadded ${formatBytes(heap.unpadded_bytes[idx]!)}` : "");
  }

  private drawCharts(): void {
    const dark = this.ctx.theme.get() === "dark";
    const m = this.program;
    if (m?.available && m.heap?.position.length && this.heapHost.isConnected) {
      const width = this.heapHost.clientWidth;
      if (width > 0) {
        this.lastWidth = width;
        this.heapChart?.destroy();
        this.heapHost.replaceChildren();
        this.heapChart = createHeapChart(this.heapHost, {
          width, height: CHART_H, dark,
          position: m.heap.position, heap: m.heap.heap_bytes, unpadded: m.heap.unpadded_bytes ?? null,
          peak: this.marker ? { position: this.marker.position, bytes: this.marker.bytes, label: `peak ${formatBytes(this.marker.bytes)}${this.marker.instruction ? ` at ${this.marker.instruction}` : ""} (position ${this.marker.position.toLocaleString("en-US")})` } : null,
          onHover: (i) => this.hover(i),
        });
        this.heapHost.dataset.points = String(m.heap.position.length);
        this.heapHost.setAttribute("role", "img");
        this.heapHost.setAttribute("aria-label", `Heap size over program order of ${m.id}: ${formatCount(m.heap.total_points)} points, peak ${formatBytes(m.peak_heap_bytes)}${this.marker?.instruction ? ` at ${this.marker.instruction}` : ""}`);
        replace(this.heapLegend, chartLegend(dark, [
          { label: "heap size", kind: "line" },
          ...(m.heap.unpadded_bytes ? [{ label: "unpadded heap size", kind: "dashed" as const, color: "second" as const }] : []),
          { label: "peak", kind: "peak", color: "peak" },
          { label: "selected buffer's live range", kind: "band", color: "band" },
        ]));
        if (!this.readout.textContent) this.readout.textContent = "Point at the chart: the instruction at that position and the heap size there.";
        this.heapHost.querySelector("canvas")?.setAttribute("data-testid", "memory-heap-canvas");
        const hit = this.ctx.view().op ? m.buffers.find((b) => b.instruction === this.ctx.view().op) : undefined;
        this.heapChart.band(hit?.live ?? null);
      }
    }
    this.drawAllocator(dark);
  }

  // ------------------------------------------------------------ allocators

  private async loadAllocators(): Promise<void> {
    const s = this.summary?.allocators;
    if (s && !s.available) {
      replace(this.allocHost, h("div", { "data-testid": "memory-allocators-unavailable" }, emptyState(s.reason ?? "not available because the capture has no allocator events")));
      return;
    }
    replace(this.allocHost, loading("allocator events"));
    try {
      this.allocators = await this.ctx.api.memoryAllocators(this.ctx.profile.id);
    } catch (e) {
      replace(this.allocHost, errorState(e, () => void this.loadAllocators()));
      return;
    }
    const a = this.allocators;
    if (!a.available || !a.allocators.length) {
      replace(this.allocHost, h("div", { "data-testid": "memory-allocators-unavailable" }, emptyState(a.reason ?? "not available because the capture has no allocator events")));
      return;
    }
    const byPeak = [...a.allocators].sort((x, y) => y.peak_bytes_in_use - x.peak_bytes_in_use);
    this.allocName = byPeak[0]!.name + "@" + byPeak[0]!.host;
    this.renderAllocator();
  }

  private renderAllocator(): void {
    const list = this.allocators?.allocators ?? [];
    const al = list.find((x) => `${x.name}@${x.host}` === this.allocName) ?? list[0];
    if (!al) return;
    const sel = h("select", { class: "input", "aria-label": "Allocator", "data-testid": "memory-allocator" },
      ...list.map((x) => h("option", { value: `${x.name}@${x.host}` }, `${x.name} · ${x.host} · peak ${formatBytes(x.peak_bytes_in_use)}`)));
    sel.value = `${al.name}@${al.host}`;
    sel.addEventListener("change", () => {
      this.allocName = sel.value;
      this.renderAllocator();
    });
    const card = (label: string, value: string, title: string) =>
      h("div", { class: "card", title }, h("div", { class: "card-label" }, label), h("div", { class: "card-value" }, value));
    const frag = al.series.fragmentation ?? [];
    const peakIdx = al.series.t_ns.indexOf(al.peak_time_ns);
    replace(this.allocHost,
      h("div", { class: "toolbar" }, list.length > 1 ? h("label", null, "Allocator", sel) : h("strong", null, `${al.name} · ${al.host}`),
        h("span", { class: "muted small" }, `${formatCount(al.events)} allocator events`)),
      h("div", { class: "cards", "data-testid": "memory-alloc-cards" },
        card("Peak in use", formatBytes(al.peak_bytes_in_use), `${al.peak_bytes_in_use.toLocaleString("en-US")} bytes at ${formatNs(al.peak_time_ns)} from the profile's start`),
        h("div", { class: "card", title: "Time of the peak, from the profile's start: open the trace there" },
          h("div", { class: "card-label" }, "Peak at"),
          h("div", { class: "card-value" }, h("a", { href: this.peakTraceHref(al.peak_time_ns), "data-testid": "memory-alloc-peak-link" }, formatNs(al.peak_time_ns)))),
        card("Capacity", formatBytes(al.capacity_bytes), al.capacity_bytes == null ? "not reported" : `${al.capacity_bytes.toLocaleString("en-US")} bytes (the allocator's limit)`),
        card("Headroom", al.headroom_bytes == null ? "unknown" : formatBytes(al.headroom_bytes), headroomText(al.capacity_bytes, al.peak_bytes_in_use)),
        peakIdx >= 0 && frag[peakIdx] != null ? card("Fragmentation at peak", formatPct(frag[peakIdx]!), "1 − largest free block / free bytes, at the peak") : null),
      this.allocLegend,
      this.allocChartHost,
      al.live_at_peak.length ? this.liveAtPeak(al) : h("p", { class: "muted small" }, "The allocator events carry no per-allocation detail at the peak."));
    this.drawAllocator(this.ctx.theme.get() === "dark");
  }

  /** The trace around an allocator's peak: a fortieth of the capture on each side (at least 100 µs). */
  private peakTraceHref(t_ns: number): string {
    const pad = Math.max(100_000, (this.ctx.profile.duration_ns ?? 0) / 40);
    return this.ctx.href({ tab: "trace", t0: Math.max(0, Math.round(t_ns - pad)), t1: Math.round(t_ns + pad) });
  }

  private liveAtPeak(al: MemoryAllocator): HTMLElement {
    const t = sortableTable<MemoryAllocator["live_at_peak"][number]>([
      { key: "bytes", label: "Bytes", numeric: true, sort: (x) => x.bytes, render: (x) => h("span", { title: `${x.bytes.toLocaleString("en-US")} bytes` }, formatBytes(x.bytes)) },
      { key: "req", label: "Requested", numeric: true, sort: (x) => x.requested_bytes ?? 0, render: (x) => formatBytes(x.requested_bytes) },
      { key: "op", label: "Op", sort: (x) => x.op ?? "", render: (x) => x.op || h("span", { class: "muted" }, "–") },
      { key: "shape", label: "Shape", sort: (x) => x.shape ?? "", render: (x) => (x.shape ? h("code", null, x.shape) : h("span", { class: "muted" }, "–")) },
      { key: "dtype", label: "Type", sort: (x) => x.dtype ?? "", render: (x) => x.dtype || h("span", { class: "muted" }, "–") },
      { key: "region", label: "Region", sort: (x) => x.region_type ?? "", render: (x) => x.region_type || h("span", { class: "muted" }, "–") },
      { key: "t", label: "Allocated at", numeric: true, sort: (x) => x.t_ns ?? 0, render: (x) => formatNs(x.t_ns) },
    ], { sortKey: "bytes", desc: true, testid: "memory-alloc-live" });
    t.setRows(al.live_at_peak);
    return h("div", null, h("h4", null, `Allocations live at the peak (${formatCount(al.live_at_peak.length)})`), h("div", { class: "table-scroll memory-alloc-live" }, t.el));
  }

  private drawAllocator(dark: boolean): void {
    const list = this.allocators?.allocators ?? [];
    const al = list.find((x) => `${x.name}@${x.host}` === this.allocName);
    if (!al || !this.allocChartHost.isConnected) return;
    const width = this.allocChartHost.clientWidth;
    if (width <= 0) return;
    this.allocChart?.destroy();
    this.allocChartHost.replaceChildren();
    if (!al.series.t_ns.length) {
      this.allocChartHost.append(emptyState("not available because the allocator reported no snapshots"));
      return;
    }
    this.allocChart = createAllocatorChart(this.allocChartHost, {
      width, height: ALLOC_H, dark,
      t_ns: al.series.t_ns, inUse: al.series.bytes_in_use, reserved: al.series.bytes_reserved?.some((v) => v > 0) ? al.series.bytes_reserved : null,
      peak: { t_ns: al.peak_time_ns, bytes: al.peak_bytes_in_use },
      capacity: al.capacity_bytes,
    });
    this.allocChartHost.dataset.points = String(al.series.t_ns.length);
    this.allocChartHost.setAttribute("role", "img");
    this.allocChartHost.setAttribute("aria-label", `${al.name} bytes in use over time: peak ${formatBytes(al.peak_bytes_in_use)} at ${formatNs(al.peak_time_ns)}${al.capacity_bytes ? ` of ${formatBytes(al.capacity_bytes)} capacity` : ""}`);
    const reserved = !!al.series.bytes_reserved?.some((v) => v > 0);
    replace(this.allocLegend, chartLegend(dark, [
      { label: "bytes in use", kind: "line" },
      ...(reserved ? [{ label: "reserved", kind: "dashed" as const, color: "second" as const }] : []),
      { label: "peak", kind: "peak", color: "peak" },
      ...(al.capacity_bytes ? [{ label: "capacity", kind: "dashed" as const, color: "muted" as const }] : []),
    ]));
  }
}
