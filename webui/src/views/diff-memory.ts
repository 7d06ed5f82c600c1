// The diff page's memory section (issue 19): one program's peak heap in A and
// B (matched by name; by default A's default program) and the buffers at the
// peak that grew, appeared, shrank or went, largest change first. More memory
// in B is red (worse), less is green, as every delta on the page.

import { isAbort, type ApiClient } from "../api/client";
import type { MemoryDiff, MemoryDiffBuffer } from "../api/wire";
import { deltaClass } from "../lib/diff";
import { formatBytes, formatCount, formatDeltaPct } from "../lib/format";
import { formatDeltaBytes } from "../lib/memory";
import { profilePath } from "../lib/viewstate";
import { h, replace } from "./dom";
import { errorState, loading } from "./states";
import { sortableTable } from "./table";

const CHANGE: Record<string, { label: string; cls: string }> = {
  appeared: { label: "new in B", cls: "worse" },
  grew: { label: "grew", cls: "worse" },
  shrank: { label: "shrank", cls: "better" },
  gone: { label: "gone in B", cls: "better" },
};

export function memoryDiffSection(api: ApiClient, a: string, b: string, signal?: AbortSignal): HTMLElement {
  const el = h("section", { class: "diff-memory", "data-testid": "diff-memory" }, h("h3", null, "Memory at the peak"));
  const body = h("div", null, loading("memory diff"));
  el.append(body);
  api.memoryDiff(a, b, null, 100, signal).then((d) => replace(body, ...render(d, a, b)), (e) => {
    if (!isAbort(e)) replace(body, errorState(e));
  });
  return el;
}

function render(d: MemoryDiff, a: string, b: string): (HTMLElement | null)[] {
  if (!d.available) return [h("p", { class: "muted small", "data-testid": "diff-memory-unavailable" }, d.reason ?? "not available")];
  const cls = deltaClass(d.delta_bytes);
  const mem = (id: string, program: string) => profilePath(id, { tab: "memory", module: program });
  const t = sortableTable<MemoryDiffBuffer>([
    { key: "change", label: "Change", sort: (x) => x.change, render: (x) => h("span", { class: `tag ${CHANGE[x.change]?.cls ?? ""}` }, CHANGE[x.change]?.label ?? x.change) },
    { key: "instruction", label: "Instruction", sort: (x) => x.instruction,
      render: (x) => { const [id, prog] = x.change === "gone" ? [a, d.a] : [b, d.b]; return h("a", { class: "ellipsis", title: `${x.instruction} in the HLO of ${id}`, href: profilePath(id, { tab: "hlo", module: prog, op: x.instruction }) }, x.instruction); } },
    { key: "scope", label: "JAX scope / op", sort: (x) => x.scope || x.op_name || "", render: (x) => h("span", { class: "ellipsis", title: x.op_name ?? "" }, x.scope ? h("strong", null, x.scope) : null, x.op_name ? h("span", { class: "muted small" }, ` ${x.op_name}`) : null) },
    { key: "shape", label: "Shape", sort: (x) => x.shape, render: (x) => h("code", { class: "ellipsis", title: x.shape }, x.shape) },
    { key: "category", label: "Category", sort: (x) => x.category, render: (x) => x.category },
    { key: "a", label: "A", numeric: true, sort: (x) => x.a_bytes, render: (x) => (x.a_bytes ? formatBytes(x.a_bytes) : "–") },
    { key: "b", label: "B", numeric: true, sort: (x) => x.b_bytes, render: (x) => (x.b_bytes ? formatBytes(x.b_bytes) : "–") },
    { key: "delta", label: "Δ", numeric: true, sort: (x) => Math.abs(x.delta_bytes), render: (x) => h("span", { class: deltaClass(x.delta_bytes), title: `${x.delta_bytes.toLocaleString("en-US")} bytes` }, formatDeltaBytes(x.delta_bytes)) },
  ], { sortKey: "delta", desc: true, testid: "diff-memory-table", rowAttrs: (x) => ({ "data-testid": "diff-memory-row", "data-change": x.change, "data-op": x.instruction }) });
  t.setRows(d.buffers);
  return [
    h("div", { class: "cards" },
      h("div", { class: "card", title: `${d.a_peak_bytes.toLocaleString("en-US")} bytes` }, h("div", { class: "card-label" }, "A peak heap"), h("div", { class: "card-value" }, formatBytes(d.a_peak_bytes))),
      h("div", { class: "card", title: `${d.b_peak_bytes.toLocaleString("en-US")} bytes` }, h("div", { class: "card-label" }, "B peak heap"), h("div", { class: "card-value" }, formatBytes(d.b_peak_bytes))),
      h("div", { class: "card", "data-testid": "diff-memory-delta", title: `${d.delta_bytes.toLocaleString("en-US")} bytes` },
        h("div", { class: "card-label" }, "Peak, B vs A"),
        h("div", { class: `card-value ${cls}` }, `${formatDeltaBytes(d.delta_bytes)}${d.delta_pct != null ? ` (${formatDeltaPct(d.delta_pct)})` : ""}`))),
    h("p", { class: "small muted" },
      `Program ${d.program}: `, h("a", { href: mem(a, d.a) }, d.a), " in A, ", h("a", { href: mem(b, d.b) }, d.b), " in B. ",
      `${formatCount(d.buffers_changed)} buffers at the peak changed${d.buffers.length < d.buffers_changed ? `; the ${formatCount(d.buffers.length)} largest changes listed` : ""}; the changes add up to the peak's. `,
      h("span", { class: "worse" }, "red: more memory in B"), "; ", h("span", { class: "better" }, "green: less"), "."),
    d.buffers.length ? h("div", { class: "table-scroll diff-memory-scroll" }, t.el) : h("p", { class: "muted" }, "The same buffers at the peak in both."),
  ];
}
