// The HLO tab: module list, the module's text with the op's definition
// highlighted (click a line to pick its instruction), and a zoomable graph of
// the op's neighbourhood laid out by Graphviz (WebAssembly, loaded on demand).

import { isAbort } from "../api/client";
import type { HloModuleInfo, HloModuleResponse } from "../api/wire";
import { formatBytes, formatCount, formatFlops } from "../lib/format";
import { findOpLine, findOpUses, graphToDot } from "../lib/hlo";
import type { ViewState } from "../lib/viewstate";
import { layoutDot } from "../render/hlo-graph";
import { h, replace } from "./dom";
import { mountGraph, type GraphView } from "./hlo-graph-view";
import type { Panel, PanelContext } from "./panel";
import { emptyState, errorState, loading } from "./states";

const LINE_H = 18;
const DEF_RE = /^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=/;

export class HloPanel implements Panel {
  readonly el = h("section", { class: "panel hlo-panel", "data-testid": "panel-hlo" });
  private modules: HloModuleInfo[] = [];
  private started = false;
  private readonly list = h("ul", { class: "module-list", "data-testid": "hlo-module-list", role: "listbox", "aria-label": "HLO modules" });
  private readonly main = h("div", { class: "hlo-main" });
  private readonly graphHost = h("div", { class: "hlo-graph", "data-testid": "hlo-graph" });
  private readonly text = h("pre", { class: "hlo-text", "data-testid": "hlo-text", tabindex: 0 });
  private readonly status = h("span", { class: "muted", "data-testid": "hlo-status" });
  private readonly hops = h("select", { class: "input", "aria-label": "Neighbourhood size" },
    ...[1, 2, 3, 4].map((n) => h("option", { value: String(n) }, `${n} hop${n > 1 ? "s" : ""}`)));
  private graph: GraphView | null = null;
  private controller: AbortController | null = null;
  private current: { module?: string; op?: string; hops?: number } = {};
  private resp: HloModuleResponse | null = null;

  constructor(private readonly ctx: PanelContext) {
    this.hops.value = "2";
    this.hops.addEventListener("change", () => void this.open(this.current.module, this.current.op, true));
    this.text.addEventListener("click", (e) => this.onTextClick(e));
  }

  show(): void {
    if (!this.started) {
      this.started = true;
      void this.load();
    }
  }
  hide(): void {}
  destroy(): void {
    this.controller?.abort();
    this.graph?.destroy();
  }
  update(v: ViewState): void {
    if (!this.started || !this.modules.length) return;
    void this.open(v.module ?? this.defaultModule(), v.op);
  }

  private defaultModule(): string | undefined {
    return [...this.modules].sort((a, b) => (b.flops ?? 0) - (a.flops ?? 0))[0]?.name;
  }

  private async load(): Promise<void> {
    replace(this.el, loading("HLO modules"));
    try {
      this.modules = (await this.ctx.api.hloModules(this.ctx.profile.id)).modules;
    } catch (e) {
      replace(this.el, errorState(e, () => { this.started = false; this.show(); }));
      return;
    }
    if (!this.modules.length) {
      replace(this.el, emptyState("No HLO modules in this profile.", "HLO protos are saved in the xplane when the job compiles while the profiler runs; capture across a compile, or upload a profile that has them."));
      return;
    }
    const filter = h("input", { type: "search", class: "input", placeholder: "Filter modules", "aria-label": "Filter modules" });
    filter.addEventListener("input", () => this.renderList(filter.value));
    replace(this.el,
      h("div", { class: "hlo-side" }, filter, this.list),
      this.main);
    replace(this.main,
      h("div", { class: "toolbar" }, this.status, h("span", { class: "spacer" }), this.hops,
        h("button", { class: "btn", title: "Zoom in", "aria-label": "Zoom graph in", onclick: () => this.graph?.zoom(0.7) }, "+"),
        h("button", { class: "btn", title: "Zoom out", "aria-label": "Zoom graph out", onclick: () => this.graph?.zoom(1.4) }, "−"),
        h("button", { class: "btn", title: "Fit", onclick: () => this.graph?.fit() }, "Fit")),
      h("div", { class: "hlo-split" }, this.graphHost, h("div", { class: "hlo-text-wrap" }, this.text)));
    this.renderList("");
    const v = this.ctx.view();
    await this.open(v.module ?? this.defaultModule(), v.op);
  }

  private renderList(f: string): void {
    const q = f.trim().toLowerCase();
    replace(this.list, ...this.modules.filter((m) => !q || m.name.toLowerCase().includes(q)).map((m) => {
      const active = m.name === this.current.module;
      return h("li", { role: "option", "aria-selected": String(active), class: active ? "active" : null },
        h("a", { href: this.ctx.href({ tab: "hlo", module: m.name }), title: m.name, "data-testid": "hlo-module" },
          h("span", { class: "ellipsis" }, m.name),
          h("span", { class: "muted small" }, m.instructions == null
            ? "did not run in this capture"
            : `${formatCount(m.instructions)} instr · ${formatFlops(m.flops)} · ${formatBytes(m.bytes)}`)));
    }));
  }

  private async open(module: string | undefined, op: string | undefined, force = false): Promise<void> {
    if (!module) return;
    const hops = Number(this.hops.value) || 2;
    if (!force && this.current.module === module && this.current.op === op && this.current.hops === hops) return;
    const sameText = this.resp?.module === module;
    this.current = { module, op, hops };
    this.renderList("");
    this.controller?.abort();
    const controller = (this.controller = new AbortController());
    this.status.textContent = `Loading ${module}${op ? ` · ${op}` : ""}…`;
    if (!sameText) replace(this.text, "loading…");
    let resp: HloModuleResponse;
    try {
      resp = await this.ctx.api.hloModule(this.ctx.profile.id, module, op ?? null, hops, controller.signal);
    } catch (e) {
      if (isAbort(e)) return;
      this.status.textContent = "";
      replace(this.graphHost, errorState(e, () => void this.open(module, op, true)));
      return;
    }
    if (controller.signal.aborted) return;
    this.resp = resp;
    this.status.textContent = `${resp.module}${resp.op ? ` · ${resp.op}` : ""}`;
    this.renderText(resp.text, resp.op ?? op ?? null);
    await this.renderGraph(resp, controller);
  }

  private renderText(text: string, op: string | null): void {
    const line = op ? findOpLine(text, op) : -1;
    if (line < 0) {
      this.text.textContent = text;
      return;
    }
    const lines = text.split("\n");
    const uses = new Set(findOpUses(text, op!));
    // Definition line as <mark>, uses underlined; the rest as plain text runs.
    const parts: (Node | string)[] = [];
    let run: string[] = [];
    const flush = () => {
      if (run.length) parts.push(run.join("\n") + "\n");
      run = [];
    };
    lines.forEach((l, i) => {
      if (i === line) {
        flush();
        parts.push(h("mark", { class: "hlo-def", "data-testid": "hlo-highlight" }, l), "\n");
      } else if (uses.has(i)) {
        flush();
        parts.push(h("span", { class: "hlo-use" }, l), "\n");
      } else run.push(l);
    });
    flush();
    replace(this.text, ...parts);
    requestAnimationFrame(() => {
      const wrap = this.text.parentElement!;
      wrap.scrollTop = Math.max(0, line * LINE_H - wrap.clientHeight / 3);
    });
  }

  private async renderGraph(resp: HloModuleResponse, controller: AbortController): Promise<void> {
    this.graph?.destroy();
    this.graph = null;
    const dot = resp.dot ?? (resp.graph && resp.graph.nodes.length ? graphToDot(resp.graph, resp.op) : null);
    if (!dot) {
      replace(this.graphHost, emptyState(resp.op ? `No graph for ${resp.op}.` : "Pick an op to see its neighbourhood.",
        "Click an instruction in the text on the right, or open an op from the Op profile or Roofline."));
      return;
    }
    replace(this.graphHost, loading("graph layout"));
    try {
      const svg = await layoutDot(dot);
      if (controller.signal.aborted) return;
      const idToName = new Map((resp.graph?.nodes ?? []).map((n) => [String(n.id), String(n.name ?? n.label ?? n.id)]));
      this.graph = mountGraph(this.graphHost, svg, (title) => {
        const name = idToName.get(title) ?? title;
        this.ctx.setView({ module: resp.module, op: name.replace(/^%/, "") });
      });
    } catch (e) {
      replace(this.graphHost, errorState(new Error(`graph layout failed: ${(e as Error).message}`)));
    }
  }

  private onTextClick(e: MouseEvent): void {
    if (!this.resp) return;
    const r = this.text.getBoundingClientRect();
    const cs = getComputedStyle(this.text);
    const line = Math.floor((e.clientY - r.top - parseFloat(cs.paddingTop)) / LINE_H);
    const l = this.resp.text.split("\n")[line];
    const m = l ? DEF_RE.exec(l) : null;
    if (m) this.ctx.setView({ module: this.resp.module, op: m[1] });
  }
}
