// Diff of two profiles: A is the baseline, B the candidate, every delta is
// B − A, red where B is slower and green where it is faster, in every cell.
// Op times are self times normalised as the API says (per step, else per
// second of capture, else raw totals), and the page says which. Op names link
// to the op in B's op profile (in A's for ops only A ran).

import { isAbort, type ApiClient } from "../api/client";
import type { DiffFindingItem, DiffFindings, DiffOnly, DiffOp, DiffResponse, Profile } from "../api/wire";
import { deltaClass } from "../lib/diff";
import { formatCount, formatDateTime, formatDeltaNs, formatDeltaPct, formatNs } from "../lib/format";
import { profilePath } from "../lib/viewstate";
import { diffPath } from "../state/route";
import type { Router } from "../state/router";
import { memoryDiffSection } from "./diff-memory";
import { h, replace } from "./dom";
import { emptyState, errorState, loading } from "./states";
import { sortableTable } from "./table";

/** Column suffix and words for each normalisation the API names. */
const PER: Record<string, string> = { per_step: "/ step", per_second: "/ s of capture", total: "total" };
const PER_WORDS: Record<string, string> = { per_step: "per step", per_second: "per second of capture", total: "as captured" };

export class DiffPage {
  readonly el = h("div", { class: "page diff-page" });
  private readonly body = h("div");
  private controller: AbortController | null = null;
  private profiles = new Map<string, Profile>();
  private readonly listed: Promise<void>;

  constructor(
    private readonly api: ApiClient,
    private readonly router: Router,
    private readonly a: string,
    private readonly b: string,
  ) {
    this.el.append(h("header", { class: "page-head" }, h("h1", null, "Diff"), h("span", { class: "spacer" }), h("a", { href: "/", class: "small" }, "← Profiles")));
    const [pickers, listed] = this.pickers();
    this.listed = listed;
    this.el.append(pickers, this.body);
    if (a && b) void this.load();
    else replace(this.body, emptyState("Pick a baseline (A) and a candidate (B) to compare.", "Or select two on the Profiles page and press Diff: the older one becomes the baseline."));
  }

  destroy(): void {
    this.controller?.abort();
  }

  private pickers(): [HTMLElement, Promise<void>] {
    const selA = h("select", { class: "input", "aria-label": "Profile A (baseline)", "data-testid": "diff-a" });
    const selB = h("select", { class: "input", "aria-label": "Profile B (candidate)", "data-testid": "diff-b" });
    const go = h("button", { class: "btn primary", onclick: () => this.router.navigate(diffPath(selA.value, selB.value)) }, "Compare");
    const swap = h("button", {
      class: "btn", title: "Swap baseline and candidate", "aria-label": "Swap A and B", "data-testid": "diff-swap",
      onclick: () => this.router.navigate(diffPath(selB.value, selA.value)),
    }, "⇄");
    const listed = this.api.profiles({ status: "ready" }).then((ps: Profile[]) => {
      this.profiles = new Map(ps.map((p) => [p.id, p]));
      const opts = (cur: string) => [h("option", { value: "" }, "—"), ...ps.map((p) =>
        h("option", { value: p.id, selected: p.id === cur }, `${p.session || p.id} (${p.run}) · ${formatDateTime(p.created_at)}`))];
      replace(selA, ...opts(this.a));
      replace(selB, ...opts(this.b));
      if (this.a) selA.value = this.a;
      if (this.b) selB.value = this.b;
    }).catch(() => {
      replace(selA, h("option", { value: this.a }, this.a || "—"));
      replace(selB, h("option", { value: this.b }, this.b || "—"));
    });
    return [h("div", { class: "toolbar" }, h("label", null, "Baseline (A) ", selA), swap, h("label", null, "Candidate (B) ", selB), go), listed];
  }

  private async load(): Promise<void> {
    this.controller = new AbortController();
    replace(this.body, loading("diff"));
    let d: DiffResponse;
    try {
      d = await this.api.diff(this.a, this.b, this.controller.signal);
      await this.listed;
    } catch (e) {
      if (isAbort(e)) return;
      replace(this.body, errorState(e, () => void this.load()));
      return;
    }
    this.render(d);
  }

  private render(d: DiffResponse): void {
    const s = d.steps;
    const norm = d.normalization;
    const kind = norm?.kind ?? "total";
    const per = PER[kind] ?? "";
    // Times in the table's unit: per step a duration, per second of capture a rate.
    const t = (ns: number | null | undefined) => (kind === "per_second" ? `${formatNs(ns)}/s` : formatNs(ns));
    const dt = (ns: number) => (kind === "per_second" ? `${formatDeltaNs(ns)}/s` : formatDeltaNs(ns));
    const opLink = (id: string, o: { module: string; op: string }) => h("span", { class: "diff-op" },
      h("a", { href: profilePath(id, { tab: "ops", module: o.module, op: o.op }), title: `${o.op} in the op profile of ${id}`, "data-testid": "diff-op-link" }, o.op),
      " ", h("a", { class: "small muted", href: profilePath(id, { tab: "hlo", module: o.module, op: o.op }), title: `${o.op} in the HLO of ${id}` }, "HLO"));
    const calls = (o: DiffOp) => (o.a_calls === undefined || o.b_calls === undefined ? "–"
      : `${fmtCalls(o.a_calls)} → ${fmtCalls(o.b_calls)}`);
    const table = sortableTable<DiffOp>([
      { key: "op", label: "Op", sort: (o) => o.op, render: (o) => opLink(d.b, o) },
      { key: "module", label: "Module", sort: (o) => o.module, render: (o) => h("span", { class: "ellipsis muted", title: o.module }, o.module) },
      { key: "calls", label: `Runs ${per}`, numeric: true, sort: (o) => o.b_calls ?? 0, render: calls },
      { key: "a", label: `A ${per}`, numeric: true, sort: (o) => o.a_ns, render: (o) => t(o.a_ns) },
      { key: "b", label: `B ${per}`, numeric: true, sort: (o) => o.b_ns, render: (o) => t(o.b_ns) },
      { key: "delta", label: `Δ ${per}`, numeric: true, sort: (o) => Math.abs(o.delta_ns), render: (o) => h("span", { class: deltaClass(o.delta_ns), "data-testid": "diff-delta" }, dt(o.delta_ns)) },
      { key: "pct", label: "Δ %", numeric: true, sort: (o) => o.delta_pct, render: (o) => h("span", { class: deltaClass(o.delta_ns), "data-testid": "diff-pct" }, formatDeltaPct(o.delta_pct)) },
    ], { sortKey: "delta", desc: true, testid: "diff-table", rowAttrs: (o) => ({ "data-testid": "diff-row", "data-op": o.op, "data-module": o.module }) });
    table.setRows(d.ops);

    const only = (title: string, id: string, items: DiffOnly[], testid: string) => h("section", { "data-testid": testid },
      h("h3", null, `${title} (${items.length})`),
      items.length
        ? h("ul", { class: "only-list" }, ...items.slice(0, 200).map((o) => h("li", null, opLink(id, o),
          h("span", { class: "muted small" }, ` ${o.module}`), o.ns !== undefined ? ` ${t(o.ns)}` : o.total_ns !== undefined ? ` ${formatNs(o.total_ns)}` : "")))
        : h("p", { class: "muted" }, "none"));

    const pa = this.profiles.get(d.a);
    const pb = this.profiles.get(d.b);
    const who = (label: string, id: string, p: Profile | undefined) => h("span", null, `${label}: `,
      h("a", { href: profilePath(id), "data-testid": `diff-${label[0]!.toLowerCase()}-link` }, p ? `${p.session || id} (${p.run})` : id),
      p ? h("span", { class: "muted" }, `, created ${formatDateTime(p.created_at)}`) : null);
    const newerBaseline = pa && pb && (pa.created_at ?? 0) > (pb.created_at ?? 0);
    const tot = d.totals;
    const card = (label: string, value: string, cls = "", testid?: string, title?: string) =>
      h("div", { class: "card", "data-testid": testid ?? null, title: title ?? null }, h("div", { class: "card-label" }, label), h("div", { class: `card-value ${cls}` }, value));
    const counts = kind === "per_step"
      ? `each profile's total ÷ its steps (A: ${formatCount(s.a_count)}, B: ${formatCount(s.b_count)})`
      : kind === "per_second" ? "each profile's total ÷ its capture span (a profile has no steps)" : "raw totals (no steps, no capture span: captures of different length do not compare)";
    const devices = d.devices ? (d.devices.a === d.devices.b ? ` over ${d.devices.a} devices` : ` over A's ${d.devices.a} and B's ${d.devices.b} devices`) : " over every device";
    replace(this.body,
      h("p", { class: "diff-who", "data-testid": "diff-who" }, who("A (baseline)", d.a, pa), h("br"), who("B (candidate)", d.b, pb)),
      newerBaseline ? h("p", { class: "warn small", "data-testid": "diff-newer-baseline" }, "The baseline A is newer than B: ",
        h("a", { href: diffPath(d.b, d.a) }, "swap them"), " to compare the newer run against the older.") : null,
      h("div", { class: "cards" },
        card("A mean step", formatNs(s.a_mean_ns)),
        card("B mean step", formatNs(s.b_mean_ns)),
        card("Step time, B vs A", formatDeltaPct(s.delta_pct), deltaClass(s.delta_pct), "diff-step-delta", "Change of the mean step time: + means B's steps take longer"),
        tot ? card(`Op self time ${per}, B vs A`, `${t(tot.a_ns)} → ${t(tot.b_ns)} (${formatDeltaPct(tot.delta_pct)})`, deltaClass(tot.delta_ns), "diff-total-delta") : null),
      h("p", { class: "small muted", "data-testid": "diff-normalization" },
        `Op time is self time (time not spent in nested ops), summed${devices}, ${PER_WORDS[kind] ?? ""}: ${counts}. `,
        "Δ = B − A: ", h("span", { class: "worse" }, "red, B slower"), "; ", h("span", { class: "better" }, "green, B faster"), "."),
      ...(d.notes ?? []).map((n) => h("p", { class: "warn small", "data-testid": "diff-note" }, n)),
      d.findings ? findingsDiff(d.findings, d.a, d.b) : null,
      memoryDiffSection(this.api, d.a, d.b, this.controller?.signal),
      h("h3", null, `Ops in both (${d.ops.length})`),
      d.ops.length ? h("div", { class: "table-scroll" }, table.el) : emptyState("No op appears in both profiles."),
      h("div", { class: "two-cols" }, only("Only in A", d.a, d.only_a, "diff-only-a"), only("Only in B", d.b, d.only_b, "diff-only-b")));
  }
}

function fmtCalls(n: number): string {
  return Number.isInteger(n) ? formatCount(n) : n.toFixed(n < 10 ? 2 : 1);
}

/** Which findings of the diagnosis appeared in B, disappeared from A, or changed cost (matched by id). */
function findingsDiff(f: DiffFindings, a: string, b: string): HTMLElement {
  const el = h("section", { class: "diff-findings", "data-testid": "diff-findings" }, h("h3", null, "Findings"));
  if (!f.available) {
    el.append(h("p", { class: "muted small" }, `Findings: ${f.reason}.`));
    return el;
  }
  const link = (id: string, it: DiffFindingItem) => h("a", { href: profilePath(id), title: `${it.rule} in ${id}'s overview` }, it.title);
  const cost = (ns: number | undefined) => (ns === undefined ? "–" : `${formatNs(ns)} / step`);
  const rows: HTMLElement[] = [
    ...f.appeared.map((it) => h("tr", { "data-testid": "diff-finding", "data-change": "appeared", "data-rule": it.rule },
      h("td", null, h("span", { class: "tag worse" }, "new in B")), h("td", null, link(b, it)),
      h("td", { class: "num" }, "–"), h("td", { class: "num" }, cost(it.b_cost_ns_per_step)),
      h("td", { class: "num worse" }, it.b_cost_ns_per_step !== undefined ? formatDeltaNs(it.b_cost_ns_per_step) : "–"))),
    ...f.changed.map((it) => {
      const cls = deltaClass(it.delta_ns ?? 0);
      return h("tr", { "data-testid": "diff-finding", "data-change": "changed", "data-rule": it.rule },
        h("td", null, h("span", { class: `tag ${cls}` }, (it.delta_ns ?? 0) > 0 ? "costs more" : "costs less")), h("td", null, link(b, it)),
        h("td", { class: "num" }, cost(it.a_cost_ns_per_step)), h("td", { class: "num" }, cost(it.b_cost_ns_per_step)),
        h("td", { class: `num ${cls}` }, `${formatDeltaNs(it.delta_ns)}${it.delta_pct !== null && it.delta_pct !== undefined ? ` (${formatDeltaPct(it.delta_pct)})` : ""}`));
    }),
    ...f.disappeared.map((it) => h("tr", { "data-testid": "diff-finding", "data-change": "disappeared", "data-rule": it.rule },
      h("td", null, h("span", { class: "tag better" }, "gone in B")), h("td", null, link(a, it)),
      h("td", { class: "num" }, cost(it.a_cost_ns_per_step)), h("td", { class: "num" }, "–"),
      h("td", { class: "num better" }, it.a_cost_ns_per_step !== undefined ? formatDeltaNs(-it.a_cost_ns_per_step) : "–"))),
  ];
  el.append(h("p", { class: "small muted" },
    `${f.appeared.length} appeared, ${f.disappeared.length} disappeared, ${f.changed.length} changed cost by ${f.changed_pct ?? 10} % or more (findings matched by rule and subject; cost is the estimated time lost per step).`));
  if (rows.length) {
    el.append(h("table", { class: "table", "data-testid": "diff-findings-table" },
      h("thead", null, h("tr", null, h("th", null, "Change"), h("th", null, "Finding"), h("th", { class: "num" }, "A cost"), h("th", { class: "num" }, "B cost"), h("th", { class: "num" }, "Δ"))),
      h("tbody", null, ...rows)));
  } else el.append(h("p", { class: "muted" }, "The same findings at about the same cost in both."));
  return el;
}
