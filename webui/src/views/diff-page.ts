// Diff of two profiles: step time change, per-op time deltas (sortable), and
// ops found in only one of them.

import { isAbort, type ApiClient } from "../api/client";
import type { DiffOp, DiffOnly, DiffResponse, Profile } from "../api/wire";
import { formatDeltaPct, formatNs } from "../lib/format";
import { profilePath } from "../lib/viewstate";
import { diffPath } from "../state/route";
import type { Router } from "../state/router";
import { h, replace } from "./dom";
import { emptyState, errorState, loading } from "./states";
import { sortableTable } from "./table";

export class DiffPage {
  readonly el = h("div", { class: "page diff-page" });
  private readonly body = h("div");
  private controller: AbortController | null = null;

  constructor(
    private readonly api: ApiClient,
    private readonly router: Router,
    private readonly a: string,
    private readonly b: string,
  ) {
    this.el.append(h("header", { class: "page-head" }, h("h1", null, "Diff"), h("span", { class: "spacer" }), h("a", { href: "/", class: "small" }, "← Profiles")));
    this.el.append(this.pickers(), this.body);
    if (a && b) void this.load();
    else replace(this.body, emptyState("Pick two profiles to compare.", "Or select two on the Profiles page and press Diff."));
  }

  destroy(): void {
    this.controller?.abort();
  }

  private pickers(): HTMLElement {
    const selA = h("select", { class: "input", "aria-label": "Profile A (baseline)", "data-testid": "diff-a" });
    const selB = h("select", { class: "input", "aria-label": "Profile B", "data-testid": "diff-b" });
    const go = h("button", { class: "btn primary", onclick: () => this.router.navigate(diffPath(selA.value, selB.value)) }, "Compare");
    void this.api.profiles({ status: "ready" }).then((ps: Profile[]) => {
      const opts = (cur: string) => [h("option", { value: "" }, "—"), ...ps.map((p) => h("option", { value: p.id, selected: p.id === cur }, `${p.session || p.id} (${p.run})`))];
      replace(selA, ...opts(this.a));
      replace(selB, ...opts(this.b));
      if (this.a) selA.value = this.a;
      if (this.b) selB.value = this.b;
    }).catch(() => {
      replace(selA, h("option", { value: this.a }, this.a || "—"));
      replace(selB, h("option", { value: this.b }, this.b || "—"));
    });
    return h("div", { class: "toolbar" }, h("label", null, "A ", selA), h("label", null, "B ", selB), go);
  }

  private async load(): Promise<void> {
    this.controller = new AbortController();
    replace(this.body, loading("diff"));
    let d: DiffResponse;
    try {
      d = await this.api.diff(this.a, this.b, this.controller.signal);
    } catch (e) {
      if (isAbort(e)) return;
      replace(this.body, errorState(e, () => void this.load()));
      return;
    }
    const s = d.steps;
    const cls = (v: number | null) => (v === null ? "" : v > 0 ? "worse" : v < 0 ? "better" : "");
    const table = sortableTable<DiffOp>([
      { key: "op", label: "Op", sort: (o) => o.op, render: (o) => o.op },
      { key: "module", label: "Module", sort: (o) => o.module, render: (o) => h("span", { class: "ellipsis muted", title: o.module }, o.module) },
      { key: "a", label: "A", numeric: true, sort: (o) => o.a_ns, render: (o) => formatNs(o.a_ns) },
      { key: "b", label: "B", numeric: true, sort: (o) => o.b_ns, render: (o) => formatNs(o.b_ns) },
      { key: "delta", label: "Δ time", numeric: true, sort: (o) => Math.abs(o.delta_ns), render: (o) => h("span", { class: cls(o.delta_ns) }, `${o.delta_ns > 0 ? "+" : ""}${formatNs(o.delta_ns)}`) },
      { key: "pct", label: "Δ %", numeric: true, sort: (o) => o.delta_pct, render: (o) => h("span", { class: cls(o.delta_pct) }, formatDeltaPct(o.delta_pct)) },
    ], { sortKey: "delta", desc: true, testid: "diff-table", rowAttrs: () => ({ "data-testid": "diff-row" }) });
    table.setRows(d.ops);
    const only = (title: string, items: DiffOnly[]) => h("section", null, h("h3", null, `${title} (${items.length})`),
      items.length ? h("ul", { class: "only-list" }, ...items.slice(0, 200).map((o) => h("li", null, h("code", null, o.op), h("span", { class: "muted small" }, ` ${o.module}`), o.total_ns !== undefined ? ` ${formatNs(o.total_ns)}` : "")))
        : h("p", { class: "muted" }, "none"));
    replace(this.body,
      h("div", { class: "cards" },
        h("div", { class: "card" }, h("div", { class: "card-label" }, h("a", { href: profilePath(d.a) }, "A"), " mean step"), h("div", { class: "card-value" }, formatNs(s.a_mean_ns))),
        h("div", { class: "card" }, h("div", { class: "card-label" }, h("a", { href: profilePath(d.b) }, "B"), " mean step"), h("div", { class: "card-value" }, formatNs(s.b_mean_ns))),
        h("div", { class: "card", "data-testid": "diff-step-delta" }, h("div", { class: "card-label" }, "Step time change"), h("div", { class: `card-value ${cls(s.delta_pct)}` }, formatDeltaPct(s.delta_pct)))),
      h("h3", null, "Ops in both"),
      d.ops.length ? h("div", { class: "table-scroll" }, table.el) : emptyState("No op appears in both profiles."),
      h("div", { class: "two-cols" }, only("Only in A", d.only_a), only("Only in B", d.only_b)));
  }
}
