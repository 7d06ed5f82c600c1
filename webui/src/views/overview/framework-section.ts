// The Overview's framework view: time by JAX named scope as an icicle (click a
// scope to zoom into it; the URL's `scope` keeps it), and a table of the
// focused scope's children with time per step, share of the step, FLOPs,
// bytes, ops and the source file:line from the HLO metadata.

import type { Framework, NotAvailable, ScopeNode } from "../../api/wire";
import { paletteIndex, PALETTE_DARK, PALETTE_LIGHT } from "../../lib/color";
import { formatBytes, formatCount, formatFlops, formatNs, formatPct } from "../../lib/format";
import { fitCanvas } from "../../render/canvas";
import { drawIcicle, icicleHeight, icicleHit, icicleLayout, nodeAt, type IcicleNode, type IcicleRect } from "../../render/icicle";
import type { ViewState } from "../../lib/viewstate";
import { h, replace } from "../dom";
import { emptyState, errorState } from "../states";

const ROW_H = 22;
const MAX_DEPTH = 14;

type Node = ScopeNode & IcicleNode;

/** The tree with `value` (what the icicle sizes by) = total_ns. */
function toIcicle(n: ScopeNode): Node {
  return { ...n, value: n.total_ns, children: n.children.map(toIcicle) };
}

export class FrameworkSection {
  readonly el = h("section", { class: "framework", "data-testid": "framework", "aria-labelledby": "framework-h" });
  private root: Node | null = null;
  private data: Framework | null = null;
  private focus: string[] = [];
  private rects: IcicleRect<Node>[] = [];
  private hover = -1;
  private canvas: HTMLCanvasElement | null = null;
  private readonly crumbs = h("div", { class: "crumbs", "data-testid": "framework-crumbs" });
  private readonly detail = h("div", { class: "scope-detail small", "data-testid": "scope-detail" });
  private readonly table = h("div", { class: "table-scroll scope-table" });

  constructor(
    private readonly profileId: string,
    private readonly href: (v: Partial<ViewState>) => string,
    private readonly setScope: (path: string | undefined) => void,
    private readonly dark: () => boolean,
    private readonly colors: () => { bg: string; fg: string; accent: string },
  ) {}

  render(r: Framework | NotAvailable | Error, scope: string | undefined): HTMLElement {
    this.el.append(h("h3", { id: "framework-h" }, "Framework: time by JAX named scope"));
    if (r instanceof Error) {
      this.el.append(errorState(r));
      return this.el;
    }
    if (!r.available) {
      this.el.append(emptyState(`The framework view ${r.reason}.`, `Run \`xdiag ingest ${this.profileId}\` again to compute it.`));
      return this.el;
    }
    if (!r.root.children.length || !(r.root.total_ns > 0)) {
      this.el.append(emptyState("No op carries a JAX named scope in its HLO metadata.", "Name parts of the step with `jax.named_scope(\"layer_3\")` (or `jax.named_call`) to see them here."));
      return this.el;
    }
    this.data = r;
    this.root = toIcicle(r.root);
    this.focus = this.pathOf(scope);
    this.canvas = h("canvas", { class: "icicle-canvas", "data-testid": "framework-icicle", role: "img", "aria-label": "Time by JAX named scope (icicle)" });
    const tip = h("div", { class: "tooltip", hidden: true });
    const wrap = h("div", { class: "steps-wrap" }, this.canvas, tip);
    this.canvas.addEventListener("mousemove", (e) => {
      const i = icicleHit(this.rects, ROW_H, e.offsetX, e.offsetY);
      if (i !== this.hover) {
        this.hover = i;
        this.draw();
      }
      if (i < 0) {
        tip.hidden = true;
        return;
      }
      replace(tip, ...this.describe(this.rects[i]!.node, true));
      tip.hidden = false;
      tip.style.transform = `translate(${Math.min(e.offsetX + 12, wrap.clientWidth - 300)}px, ${e.offsetY + 14}px)`;
    });
    this.canvas.addEventListener("mouseleave", () => {
      tip.hidden = true;
      this.hover = -1;
      this.draw();
    });
    this.canvas.addEventListener("click", (e) => {
      const i = icicleHit(this.rects, ROW_H, e.offsetX, e.offsetY);
      if (i < 0) return;
      const r = this.rects[i]!;
      this.setScope(r.path.length ? r.path.join("/") : undefined);
    });
    this.el.append(
      h("p", { class: "muted small" },
        `Width: a scope's share of the devices' op time (self time of its ops, summed over devices and hosts). `,
        r.step_ns !== null
          ? `Per step: the devices' op time inside the ${r.steps} complete step${r.steps === 1 ? "" : "s"}, per device, split by those shares; share of step: of the mean of the same steps (${formatNs(r.step_ns)}), so the root is the devices' busy share and a scope's children add up to at most its own`
          : `Per step: over the whole capture per device (no complete step)`,
        ". Click a scope to zoom in."),
      this.crumbs, wrap, this.detail, this.table);
    this.refresh();
    return this.el;
  }

  /** A scope path of the URL as names from the root, kept only as far as it exists. */
  private pathOf(scope: string | undefined): string[] {
    if (!scope || !this.root) return [];
    const parts = scope.split("/").filter(Boolean);
    const out: string[] = [];
    for (const p of parts) {
      if (!nodeAt(this.root, [...out, p])) break;
      out.push(p);
    }
    return out;
  }

  /** The URL's scope changed (a finding's link, back/forward). */
  setFocus(scope: string | undefined): void {
    if (!this.root) return;
    const f = this.pathOf(scope);
    if (f.join("/") === this.focus.join("/")) return;
    this.focus = f;
    this.refresh();
  }

  private refresh(): void {
    if (!this.root) return;
    const node = nodeAt(this.root, this.focus) ?? this.root;
    const chain: { name: string; path: string[] }[] = [{ name: "all", path: [] }];
    this.focus.forEach((p, i) => chain.push({ name: p, path: this.focus.slice(0, i + 1) }));
    replace(this.crumbs, ...chain.flatMap((c, i) => [
      i ? h("span", { class: "muted" }, " / ") : null,
      i === chain.length - 1
        ? h("strong", null, c.name)
        : h("button", { class: "linklike", type: "button", onclick: () => this.setScope(c.path.length ? c.path.join("/") : undefined) }, c.name),
    ]));
    this.el.dataset.scope = this.focus.join("/");
    replace(this.detail, ...this.describe(node, false));
    replace(this.table, this.childTable(node));
    this.draw();
  }

  private describe(n: Node, tip: boolean): (HTMLElement | string)[] {
    const d = this.data!;
    return [
      h(tip ? "strong" : "span", { class: tip ? null : "strong" }, n.path || "all"),
      h(tip ? "div" : "span", null, `${tip ? "" : " · "}${formatNs(n.total_ns_per_step)} per step per device`,
        n.share_of_step !== null ? ` (${formatPct(n.share_of_step)} of the step)` : "",
        ` · ${formatPct(n.share ?? n.total_ns / Math.max(1, d.total_self_ns))} of op time`),
      h(tip ? "div" : "span", null, `${tip ? "" : " · "}${formatFlops(n.flops)} · ${formatBytes(n.bytes)} accessed · ${formatCount(n.ops)} op${n.ops === 1 ? "" : "s"}`,
        n.self_ns > 0 && n.children.length ? ` · ${formatNs(n.self_ns / Math.max(1, d.steps))} per step in the scope's own ops` : ""),
      n.source ? h(tip ? "div" : "span", { class: "muted" }, `${tip ? "" : " · "}${n.source}`) : "",
      n.op && !tip ? h("span", null, " · costliest op ", this.opLinks(n.op)) : n.op ? h("div", null, `costliest op: ${n.op.op}`) : "",
    ];
  }

  private opLinks(o: { module: string; op: string }): HTMLElement {
    return h("span", null,
      h("a", { href: this.href({ tab: "ops", module: o.module, op: o.op, filter: o.op }), title: `${o.op} in the op profile` }, o.op), " ",
      h("a", { class: "small", href: this.href({ tab: "hlo", module: o.module, op: o.op }), title: `${o.op} in the HLO of ${o.module}` }, "HLO"));
  }

  private childTable(n: Node): HTMLElement {
    const d = this.data!;
    const kids = n.children as Node[];
    if (!kids.length) return h("p", { class: "muted small" }, "No nested scopes.");
    return h("table", { class: "table", "data-testid": "scope-table" },
      h("thead", null, h("tr", null,
        h("th", null, "Scope"),
        h("th", { class: "num", title: "Op time in the scope and its nested scopes, per step and per device" }, "Time / step"),
        h("th", { class: "num", title: "Time per step ÷ the median step time" }, "Share of step"),
        h("th", { class: "num", title: "Share of all the devices' op time" }, "Share of op time"),
        h("th", { class: "num", title: "FLOPs of the scope's ops over the capture (HLO cost model)" }, "FLOPs"),
        h("th", { class: "num", title: "Bytes accessed by the scope's ops over the capture (HLO cost model)" }, "Bytes"),
        h("th", { class: "num" }, "Ops"),
        h("th", { title: "The scope's costliest op" }, "Top op"),
        h("th", null, "Source"))),
      h("tbody", null, ...kids.slice(0, 200).map((k) => h("tr", { "data-testid": "scope-row", "data-path": k.path },
        h("td", null, k.children.length
          ? h("button", { class: "linklike", type: "button", title: `Zoom into ${k.path}`, onclick: () => this.setScope(k.path) }, k.name)
          : h("span", { title: k.path }, k.name)),
        h("td", { class: "num" }, formatNs(k.total_ns_per_step)),
        h("td", { class: "num" }, h("span", { class: "bar", style: `--w:${Math.min(100, (k.share_of_step ?? 0) * 100)}%` }), h("span", { class: "pct" }, formatPct(k.share_of_step))),
        h("td", { class: "num" }, formatPct(k.share ?? k.total_ns / Math.max(1, d.total_self_ns))),
        h("td", { class: "num" }, formatFlops(k.flops)),
        h("td", { class: "num" }, formatBytes(k.bytes)),
        h("td", { class: "num" }, formatCount(k.ops)),
        h("td", null, k.op ? this.opLinks(k.op) : "–"),
        h("td", { class: "muted small source", title: k.source ?? null }, k.source ? breakAtSlashes(shortSource(k.source)) : "–")))));
  }

  draw(): void {
    if (!this.canvas || !this.root || !this.canvas.isConnected) return;
    const w = this.canvas.parentElement!.clientWidth;
    if (w <= 0) return;
    this.rects = icicleLayout(this.root, { width: w, rowH: ROW_H, minW: 1, maxDepth: MAX_DEPTH }, this.focus);
    const height = icicleHeight(this.rects, ROW_H);
    const ctx = fitCanvas(this.canvas, w, height);
    const pal = this.dark() ? PALETTE_DARK : PALETTE_LIGHT;
    const c = this.colors();
    drawIcicle(ctx, this.rects, w, height, ROW_H, {
      bg: c.bg, fg: c.fg, selected: c.accent,
      fill: (r) => (r.depth === 0 ? (this.dark() ? "#3a3f4b" : "#d5d9e0") : pal[paletteIndex(r.node.name)]!),
      textOn: () => (this.dark() ? "#ffffff" : "#111111"),
    }, this.hover, null);
  }
}

/** A source location as the table shows it: its last two path parts and line (the full path is the cell's tooltip). */
export function shortSource(src: string): string {
  const parts = src.split(/[\\/]/);
  return parts.length > 2 ? `…/${parts.slice(-2).join("/")}` : src;
}

/** A path with a line-break opportunity after each slash (a narrow column wraps between folders, not inside a name). */
function breakAtSlashes(path: string): (string | HTMLElement)[] {
  return path.split("/").flatMap((p, i) => (i ? [h("wbr"), `/${p}`] : [p]));
}
