// The Op profile tab: ops grouped program -> category -> op with time share,
// FLOP/s, bandwidth and what bounds them; sortable, filterable, per device;
// each op links to its HLO graph. On GPU captures, below it, the kernel
// statistics (xprof's kernel_stats): per kernel and launch shape.

import type { KernelRow, KernelsResponse } from "../api/kernels";
import type { Op, OpsResponse } from "../api/wire";
import { formatBytesPerS, formatCount, formatFlopsPerS, formatNs, formatPct } from "../lib/format";
import { filterKernels, kernelCells, kernelSummary, sortKernels, type KernelSortKey } from "../lib/kernels";
import { buildOpTree, filterOpTree, flattenOpTree, opsForDevice, pathKeys, sortOpTree, type OpNode, type OpSortKey } from "../lib/optree";
import type { ViewState } from "../lib/viewstate";
import { h, replace } from "./dom";
import type { Panel, PanelContext } from "./panel";
import { emptyState, errorState, loading } from "./states";

const MAX_ROWS = 3000;
const MAX_KERNELS = 5000;

// The kernel table's columns after the kernel and op names (lib/kernels.ts kernelCells order).
const KERNEL_COLS: { key: KernelSortKey | null; label: string; title?: string }[] = [
  { key: null, label: "Time %", title: "Share of the time in all kernels" },
  { key: "total_ns", label: "Total", title: "Summed duration of its launches" },
  { key: "launches", label: "Launches" },
  { key: "avg_ns", label: "Avg" },
  { key: "min_ns", label: "Min" },
  { key: "max_ns", label: "Max" },
  { key: null, label: "Grid", title: "Blocks per grid (x×y×z)" },
  { key: null, label: "Block", title: "Threads per block (x×y×z)" },
  { key: "registers_per_thread", label: "Regs", title: "Registers per thread" },
  { key: "shared", label: "Shared mem", title: "Shared memory per block, static + dynamic" },
  { key: "occupancy_pct", label: "Occupancy", title: "Theoretical occupancy (CUPTI): resident warps over the SM's maximum" },
  { key: null, label: "Tensor cores", title: "yes: the kernel's name says so (cuBLAS nvjet, hmma, xmma, wgmma…); no: its ops do no matrix work; unknown: the capture cannot tell (a Triton or Pallas kernel of a dot)" },
];

interface Col {
  key: OpSortKey | null;
  label: string;
  num?: boolean;
  title?: string;
}

// One definition of time in every view (docs/api.md, `ops`): self time and its share of
// the devices' busy time; inclusive time only per op, as its run time.
const COLS: Col[] = [
  { key: "label", label: "Name" },
  { key: "share", label: "Self %", num: true, title: "Share of the devices' busy time spent in the op itself (self time ÷ busy time, summed over devices). Adds up to 100 %." },
  { key: "self_ns", label: "Self time", num: true, title: "Time in the op itself: its nested ops (a loop's body) excluded; when ops ran at the same time on one device, that time is split evenly between them. Summed over devices." },
  { key: "total_ns", label: "Incl. time", num: true, title: "Inclusive: every occurrence's whole duration, nested ops included. The op's run time: rates and the average use it. Not summed over groups, where a loop and its body would count twice." },
  { key: "occurrences", label: "Count", num: true },
  { key: null, label: "Avg run", num: true, title: "Inclusive time per occurrence" },
  { key: "flops_per_s", label: "FLOP/s", num: true, title: "FLOPs (HLO cost model) over the inclusive run time" },
  { key: "bytes_per_s", label: "Bandwidth", num: true, title: "Bytes accessed per second of run time; for collectives, payload per second of transfer" },
  { key: null, label: "Bound by", title: "compute / memory from the op's intensity against the ridge point; collectives: waiting (for the other devices) or interconnect (transfer)" },
  { key: null, label: "" },
];

export class OpsPanel implements Panel {
  readonly el = h("section", { class: "panel ops-panel", "data-testid": "panel-ops" });
  private data: OpsResponse | null = null;
  private started = false;
  private expanded = new Set<string>();
  private sortKey: OpSortKey = "self_ns";
  private desc = true;
  private filter = "";
  private filterInput: HTMLInputElement | null = null;
  private device = "";
  private readonly table = h("table", { class: "table tree", "data-testid": "ops-table" });
  private readonly note = h("p", { class: "muted" });
  private selected: { module?: string; op?: string } = {};
  private kernels: KernelsResponse | null = null;
  private kernelSort: KernelSortKey = "total_ns";
  private kernelDesc = true;
  private kernelFilter = "";
  private readonly kernelTable = h("table", { class: "table", "data-testid": "kernels-table" });
  private readonly kernelNote = h("p", { class: "muted", "data-testid": "kernels-summary" });

  constructor(private readonly ctx: PanelContext) {}

  show(): void {
    if (!this.started) {
      this.started = true;
      void this.load();
    }
  }
  hide(): void {}
  destroy(): void {}

  update(v: ViewState): void {
    const filter = v.filter ?? "";
    const filterChanged = filter !== this.filter;
    if (filterChanged) {
      // A link (a finding's) filters the table; typing writes the URL, so this is then a no-op.
      this.filter = filter;
      if (this.filterInput) this.filterInput.value = filter;
    }
    const selChanged = v.module !== this.selected.module || v.op !== this.selected.op;
    if (selChanged) this.selected = { module: v.module, op: v.op };
    if (this.data && (selChanged || filterChanged)) {
      if (selChanged) this.revealSelected();
      this.render();
      if (selChanged) this.scrollToSelected();
    }
  }

  private async load(): Promise<void> {
    replace(this.el, loading("op profile"));
    // Kernel statistics load beside the op table; off GPU they say so and are not shown.
    const kernels = this.ctx.api.kernels(this.ctx.profile.id, { limit: MAX_KERNELS }).catch((e: unknown) => e);
    try {
      this.data = await this.ctx.api.ops(this.ctx.profile.id);
    } catch (e) {
      replace(this.el, errorState(e, () => { this.started = false; this.show(); }));
      return;
    }
    if (!this.data.ops.length) {
      replace(this.el, emptyState("No XLA ops in this profile.", "The op profile needs device or XLA op events; capture while the job runs compiled steps."));
      return;
    }
    const v = this.ctx.view();
    this.selected = { module: v.module, op: v.op };
    // Start with programs expanded, categories collapsed.
    for (const p of this.data.by_program) this.expanded.add(p.module);
    if (!this.data.by_program.length) for (const o of this.data.ops) this.expanded.add(o.module);
    this.revealSelected();
    const filterInput = h("input", { type: "search", class: "input", placeholder: "Filter ops, categories, modules", "aria-label": "Filter ops", "data-testid": "ops-filter" });
    this.filter = v.filter ?? "";
    filterInput.value = this.filter;
    this.filterInput = filterInput;
    filterInput.addEventListener("input", () => {
      this.filter = filterInput.value;
      this.render();
      this.ctx.setView({ filter: this.filter });
    });
    const deviceSelect = h("select", { class: "input", "aria-label": "Device", "data-testid": "ops-device" },
      h("option", { value: "" }, "All devices"),
      ...(this.data.devices ?? []).map((d) => h("option", { value: String(d) }, `Device ${d}`)));
    deviceSelect.addEventListener("change", () => {
      this.device = deviceSelect.value;
      this.render();
    });
    const got = await kernels;
    this.kernels = got instanceof Error || !got || typeof got !== "object" ? null : got as KernelsResponse;
    const section = this.kernelSection(got);
    replace(this.el,
      h("div", { class: "toolbar" }, filterInput, this.data.devices?.length > 1 ? deviceSelect : null,
        h("button", { class: "btn", onclick: () => this.expandAll(true) }, "Expand all"),
        h("button", { class: "btn", onclick: () => this.expandAll(false) }, "Collapse all"),
        h("span", { class: "spacer" }), this.note),
      h("div", { class: "table-scroll", style: section ? "flex:none;max-height:58vh" : null }, this.table),
      section);
    this.render();
    this.renderKernels();
    this.scrollToSelected();
  }

  /** The GPU kernels section; null off GPU (nothing to show). */
  private kernelSection(got: unknown): HTMLElement | null {
    const k = this.kernels;
    if (!k) {
      const why = got instanceof Error ? got.message : "no answer";
      return h("section", { class: "kernels", "data-testid": "kernels-section" },
        h("h3", null, "GPU kernels"), h("p", { class: "muted", "data-testid": "kernels-unavailable" }, `Kernel statistics could not be loaded: ${why}`));
    }
    if (!k.available) {
      if ((k.reason ?? "").includes("no GPU")) return null;
      return h("section", { class: "kernels", "data-testid": "kernels-section" },
        h("h3", null, "GPU kernels"), h("p", { class: "muted", "data-testid": "kernels-unavailable" }, `Kernel statistics ${k.reason ?? "not available"}`));
    }
    const filter = h("input", { type: "search", class: "input", placeholder: "Filter kernels or ops", "aria-label": "Filter kernels", "data-testid": "kernels-filter" });
    filter.addEventListener("input", () => {
      this.kernelFilter = filter.value;
      this.renderKernels();
    });
    return h("section", { class: "kernels", "data-testid": "kernels-section", style: "margin-top:14px" },
      h("h3", null, "GPU kernels"),
      h("div", { class: "toolbar" }, filter, h("span", { class: "spacer" }), this.kernelNote),
      h("div", { class: "table-scroll", style: "flex:none;max-height:60vh" }, this.kernelTable));
  }

  private renderKernels(): void {
    const k = this.kernels;
    if (!k || !k.available || !k.summary) return;
    const rows = sortKernels(filterKernels(k.kernels, this.kernelFilter), this.kernelSort, this.kernelDesc);
    const partial = k.partial ? ` · hosts without statistics: ${k.partial.missing_hosts.join(", ")} (re-ingest)` : "";
    const cut = k.total > k.kernels.length ? ` · the ${formatCount(k.kernels.length)} longest of ${formatCount(k.total)} shown` : "";
    this.kernelNote.textContent = kernelSummary(k.summary) + cut + partial;
    const sortTh = (key: KernelSortKey | null, label: string, num: boolean, title?: string) => {
      const active = key !== null && key === this.kernelSort;
      const th = h("th", { class: num ? "num" : null, title: title ?? null, "aria-sort": active ? (this.kernelDesc ? "descending" : "ascending") : null });
      if (key) {
        th.append(h("button", {
          class: "th-sort", type: "button",
          onclick: () => {
            if (this.kernelSort === key) this.kernelDesc = !this.kernelDesc;
            else [this.kernelSort, this.kernelDesc] = [key, key !== "name" && key !== "op"];
            this.renderKernels();
          },
        }, label, active ? (this.kernelDesc ? " ▾" : " ▴") : ""));
      } else th.textContent = label;
      return th;
    };
    const head = h("tr", null, sortTh("name", "Kernel", false), sortTh("op", "Op", false, "The instruction that launched it most (how many launched it, when several)"),
      ...KERNEL_COLS.map((c) => sortTh(c.key, c.label, true, c.title)));
    const body = rows.map((r) => this.kernelRow(r, k.summary!.total_ns));
    replace(this.kernelTable, h("thead", null, head), h("tbody", null, ...body));
  }

  private kernelRow(r: KernelRow, totalNs: number): HTMLElement {
    const op = r.op
      ? h("button", {
          class: "linklike", type: "button", title: `select ${r.op} in the op table`,
          onclick: () => this.ctx.setView({ module: r.module ?? undefined, op: r.op ?? undefined }),
        }, r.op)
      : h("span", { class: "muted" }, "–");
    return h("tr", { "data-testid": "kernel-row", "data-kernel": r.name },
      h("td", { class: "kernel-name", title: r.name, style: "max-width:340px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap" }, r.name),
      h("td", { title: r.ops > 1 ? `launched by ${r.ops} instructions` : null }, op, r.ops > 1 ? h("span", { class: "tag muted" }, `+${r.ops - 1}`) : null),
      ...kernelCells(r, totalNs).map((text, i) => h("td", { class: i === KERNEL_COLS.length - 1 ? `tc-${String(r.tensor_core)}` : "num" }, text)));
  }

  private tree(): OpNode<Op>[] {
    return buildOpTree(opsForDevice(this.data!.ops, this.device));
  }

  private revealSelected(): void {
    const { module, op } = this.selected;
    if (!module || !op || !this.data) return;
    const o = this.data.ops.find((x) => x.module === module && x.op === op);
    if (!o) return;
    const [m, c] = pathKeys(o.module, o.category, o.op);
    this.expanded.add(m!);
    this.expanded.add(c!);
  }

  private expandAll(open: boolean): void {
    this.expanded.clear();
    if (open) {
      const walk = (ns: OpNode<Op>[]) => ns.forEach((n) => {
        if (n.children.length) {
          this.expanded.add(n.key);
          walk(n.children);
        }
      });
      walk(this.tree());
    }
    this.render();
  }

  private render(): void {
    if (!this.data) return;
    const full = this.tree();
    let tree = sortOpTree(full, this.sortKey, this.desc);
    tree = filterOpTree(tree, this.filter);
    const expanded = this.filter ? new Set([...this.expanded, ...allKeys(tree)]) : this.expanded;
    const rows = flattenOpTree(tree, expanded);
    const shown = rows.slice(0, MAX_ROWS);
    const devices = this.device ? 1 : Math.max(1, this.data.devices?.length ?? 1);
    const busy = full.reduce((a, n) => a + n.self_ns, 0);
    this.note.textContent = `${formatCount(this.data.ops.length)} ops · self times add up to ${formatNs(busy)} of busy time on ${devices} device${devices === 1 ? "" : "s"} (= 100 %)` + (rows.length > MAX_ROWS ? ` · first ${MAX_ROWS} rows shown, filter to narrow` : "");
    const head = h("tr", null, ...COLS.map((c) => {
      const active = c.key === this.sortKey;
      const th = h("th", { class: c.num ? "num" : null, title: c.title ?? null, "aria-sort": active ? (this.desc ? "descending" : "ascending") : null });
      if (c.key) {
        const key = c.key;
        th.append(h("button", {
          class: "th-sort", type: "button",
          onclick: () => {
            if (this.sortKey === key) this.desc = !this.desc;
            else [this.sortKey, this.desc] = [key, key !== "label"];
            this.render();
          },
        }, c.label, active ? (this.desc ? " ▾" : " ▴") : ""));
      } else th.textContent = c.label;
      return th;
    }));
    const body = shown.map(({ node, depth }) => this.row(node, depth, expanded));
    replace(this.table, h("thead", null, head), h("tbody", null, ...body));
  }

  private row(n: OpNode<Op>, depth: number, expanded: ReadonlySet<string>): HTMLElement {
    const isOp = n.kind === "op";
    const open = expanded.has(n.key);
    const selected = isOp && n.module === this.selected.module && n.label === this.selected.op;
    const toggle = n.children.length
      ? h("button", {
          class: "tree-toggle", type: "button", "aria-expanded": String(open), "aria-label": `${open ? "Collapse" : "Expand"} ${n.label}`,
          onclick: () => {
            if (this.expanded.has(n.key)) this.expanded.delete(n.key);
            else this.expanded.add(n.key);
            this.render();
          },
        }, open ? "▾" : "▸")
      : h("span", { class: "tree-toggle" });
    const name = isOp
      ? h("button", {
          class: "linklike", type: "button", title: `${n.label} (${n.op?.category})`,
          onclick: () => this.ctx.setView({ module: n.module, op: n.label }),
        }, n.label)
      : h("span", { class: n.kind === "program" ? "strong" : null, title: n.label }, n.label);
    const avg = isOp ? formatNs(n.op!.avg_ns) : "–";
    const o = n.op;
    const bound = o && o.category === "collective" && (o.wait_ns ?? null) !== null
      ? `waiting for other devices ${formatNs(o.wait_ns)}, transfer ${formatNs(o.transfer_ns)}`
      : null;
    return h("tr", {
      class: `lvl-${n.kind}${selected ? " selected" : ""}`, "data-testid": isOp ? "op-row" : `op-${n.kind}-row`,
      "data-op": isOp ? n.label : null, "data-module": n.module, "aria-selected": selected ? "true" : null,
    },
      h("td", { class: "tree-name", style: `padding-left:${6 + depth * 18}px` }, toggle, name,
        o?.in_fusion ? h("span", { class: "tag muted", title: "An instruction inside a fused computation: its fusion carries its FLOPs and bytes" }, "in fusion") : null,
        o?.fused_category === "unattributed" ? h("span", { class: "tag tag-warn", title: "A GPU kernel that could not be tied to the HLO instruction that launched it (inside a CUDA graph): listed under its own name with its time; FLOPs unknown", "data-testid": "op-unattributed" }, "unattributed") : null),
      h("td", { class: "num" }, h("span", { class: "bar", style: `--w:${Math.min(100, n.share * 100)}%` }), formatPct(n.share)),
      h("td", { class: "num", "data-testid": isOp ? "op-self" : null }, formatNs(n.self_ns)),
      h("td", { class: "num" }, n.total_ns === null ? "–" : formatNs(n.total_ns)),
      h("td", { class: "num" }, formatCount(n.occurrences)),
      h("td", { class: "num" }, avg),
      h("td", { class: "num" }, formatFlopsPerS(n.flops_per_s)),
      h("td", { class: "num" }, formatBytesPerS(n.bytes_per_s)),
      h("td", { title: bound }, n.bound_by ? h("span", { class: `tag tag-${n.bound_by}` }, n.bound_by) : "–"),
      h("td", null, isOp || n.kind === "program"
        ? h("a", { href: this.ctx.href({ tab: "hlo", module: n.module, op: isOp ? n.label : undefined }), "data-testid": isOp ? "op-hlo-link" : null }, "HLO")
        : ""),
    );
  }

  private scrollToSelected(): void {
    requestAnimationFrame(() => this.table.querySelector("tr.selected")?.scrollIntoView({ block: "center" }));
  }
}

function allKeys(nodes: OpNode<Op>[], out: string[] = []): string[] {
  for (const n of nodes) {
    if (n.children.length) {
      out.push(n.key);
      allKeys(n.children, out);
    }
  }
  return out;
}
