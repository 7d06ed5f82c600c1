// The Overview's hosts × steps view: a heatmap of step time per host and step
// (the slowest host of each step outlined), skew statistics, each host's mean
// breakdown (compute / collectives / host-side / idle) and, for the host picked,
// its per-device breakdown. Clicking a cell opens that host's step in the trace.

import type { ApiClient } from "../../api/client";
import type { DeviceBreakdown, HostsSteps, NotAvailable } from "../../api/wire";
import { formatNs, formatPct } from "../../lib/format";
import type { ViewState } from "../../lib/viewstate";
import { fitCanvas } from "../../render/canvas";
import { cellAt, drawHeatmap, heatColor, heatmapGeometry, heatmapHeight, type HeatmapData, type HeatmapGeometry } from "../../render/heatmap";
import { STEP_PARTS } from "../../render/steps-chart";
import { h, replace } from "../dom";
import { emptyState, errorState, loading } from "../states";

const PARTS = [
  { key: "compute_ns", label: "compute", color: STEP_PARTS[0].color },
  { key: "collective_ns", label: "collectives", color: STEP_PARTS[1].color },
  { key: "host_ns", label: "host-side", color: STEP_PARTS[2].color },
  { key: "idle_ns", label: "idle", color: STEP_PARTS[3].color },
] as const;

type PartKey = (typeof PARTS)[number]["key"];

const GUTTER = 150;
/** Host rows shown before "Show all". */
const HOST_ROWS = 12;

/** Mean of the non-null values, or null. */
/** The parts of a host's per-device breakdown, each with its mean per step per device:
 *  compute, collectives, host-side (one row for all devices, where the API has it) and
 *  idle, which add up to the step. */
export function deviceParts(d: DeviceBreakdown): { key: PartKey; label: string; color: string; mean: (number | null)[] }[] {
  return PARTS.filter((p) => p.key !== "host_ns" || d.host_ns).map((p) => ({
    key: p.key, label: p.label, color: p.color,
    mean: d.devices.map((_, i) => meanOf((p.key === "host_ns" ? d.host_ns : d[p.key][i]) ?? [])),
  }));
}

export function meanOf(xs: readonly (number | null)[]): number | null {
  let s = 0;
  let n = 0;
  for (const x of xs) if (x !== null && Number.isFinite(x)) { s += x; n++; }
  return n ? s / n : null;
}

export function heatmapData(hs: HostsSteps): HeatmapData {
  const rowOf = new Map(hs.hosts.map((x, i) => [x.host, i]));
  const slowestOf = new Map(hs.slowest.map((s) => [s.step, rowOf.get(s.host) ?? -1]));
  return {
    rows: hs.hosts.map((x) => x.host),
    cols: hs.steps,
    values: hs.hosts.map((x) => x.dur_ns),
    slowest: hs.steps.map((s) => slowestOf.get(s) ?? -1),
  };
}

function stackBar(parts: { label: string; color: string; v: number | null }[], total: number | null, title: string): HTMLElement {
  const sum = total ?? parts.reduce((a, p) => a + (p.v ?? 0), 0);
  return h("span", { class: "stack", title, role: "img", "aria-label": title },
    ...parts.map((p) => h("i", { style: `background:${p.color};width:${sum > 0 ? Math.max(0, ((p.v ?? 0) / sum) * 100) : 0}%` })));
}

export class HostsStepsSection {
  readonly el = h("section", { class: "hosts-steps", "data-testid": "hosts-steps", "aria-labelledby": "hosts-steps-h" });
  private hm: HeatmapData | null = null;
  private g: HeatmapGeometry | null = null;
  private canvas: HTMLCanvasElement | null = null;
  private hover: { row: number; col: number } | null = null;
  private readonly devices = h("div", { class: "device-breakdown", "data-testid": "device-breakdown" });
  private picked: string | null = null;

  constructor(
    private readonly api: ApiClient,
    private readonly profileId: string,
    private readonly href: (v: Partial<ViewState>) => string,
    private readonly open: (v: Partial<ViewState>) => void,
    private readonly colors: () => { bg: string; fg: string; muted: string; grid: string; empty: string },
  ) {}

  render(r: HostsSteps | NotAvailable | Error): HTMLElement {
    this.el.append(h("h3", { id: "hosts-steps-h" }, "Hosts × steps"));
    if (r instanceof Error) {
      this.el.append(errorState(r));
      return this.el;
    }
    if (!r.available) {
      this.el.append(emptyState(`Hosts × steps ${r.reason}.`, `Run \`xdiag ingest ${this.profileId}\` again to compute it.`));
      return this.el;
    }
    if (!r.hosts.length || !r.steps.length) {
      this.el.append(emptyState("No complete steps on any host.", "Steps come from `StepTraceAnnotation` events on each host."));
      return this.el;
    }
    this.hm = heatmapData(r);
    this.canvas = h("canvas", { class: "heatmap-canvas", "data-testid": "hosts-heatmap", role: "img",
      "aria-label": `Step time of ${r.hosts.length} hosts over ${r.steps.length} steps` });
    const tip = h("div", { class: "tooltip", hidden: true });
    const scroller = h("div", { class: "heatmap-scroll" }, this.canvas);
    const wrap = h("div", { class: "steps-wrap" }, scroller, tip);
    this.canvas.addEventListener("mousemove", (e) => {
      if (!this.g || !this.hm) return;
      const c = cellAt(this.hm, this.g, e.offsetX, e.offsetY);
      if (JSON.stringify(c) !== JSON.stringify(this.hover)) {
        this.hover = c;
        this.draw();
      }
      if (!c) {
        tip.hidden = true;
        return;
      }
      const x = r.hosts[c.row]!;
      const step = r.steps[c.col]!;
      const slow = this.hm.slowest[c.col] === c.row && r.hosts.length > 1;
      replace(tip, h("strong", null, `${x.host} · step ${step}: ${formatNs(x.dur_ns[c.col])}`),
        ...PARTS.map((p) => h("div", null, h("i", { class: "swatch", style: `background:${p.color}` }), `${p.label}: ${formatNs(x[p.key][c.col])}`)),
        x.gap_ns?.[c.col] !== null && x.gap_ns?.[c.col] !== undefined ? h("div", { class: "muted" }, `devices idle before the next step: ${formatNs(x.gap_ns[c.col])}`) : null,
        slow ? h("div", null, "the host the others waited for in this step") : null,
        h("div", { class: "muted" }, "click to open this host's step in the trace"));
      tip.hidden = false;
      const left = e.offsetX - scroller.scrollLeft;
      tip.style.transform = `translate(${Math.max(0, Math.min(left + 12, wrap.clientWidth - 240))}px, ${e.offsetY + 12}px)`;
    });
    this.canvas.addEventListener("mouseleave", () => {
      tip.hidden = true;
      this.hover = null;
      this.draw();
    });
    this.canvas.addEventListener("click", (e) => {
      if (!this.g || !this.hm) return;
      const c = cellAt(this.hm, this.g, e.offsetX, e.offsetY);
      if (!c) return;
      const x = r.hosts[c.row]!;
      const s = x.start_ns[c.col];
      const d = x.dur_ns[c.col];
      if (s === null || s === undefined || d === null || d === undefined) return;
      const pad = d * 0.05;
      this.open({ tab: "trace", t0: Math.max(0, Math.round(s - pad)), t1: Math.round(s + d + pad), host: x.host, dev: undefined, sel: undefined });
    });
    const range = heatmapGeometry(this.hm, 600, GUTTER);
    this.el.append(
      h("div", { class: "legend heat-legend" },
        h("span", { class: "has-tip", title: "Each host's own step: from its host-side start (its devices free of earlier work) to its last device op's end. The parts are means over the host's devices and add up to the step: compute, collectives with no compute beside them, host-side (no device of the host busy) and idle (a device waiting while others worked)." }, "Step time per host:"),
        h("span", { class: "muted" }, formatNs(range.lo)),
        h("span", { class: "heat-ramp", style: `background:linear-gradient(90deg, ${[0, 0.25, 0.5, 0.75, 1].map(heatColor).join(", ")})` }),
        h("span", { class: "muted", title: range.hi > Math.max(...r.hosts.flatMap((x) => x.dur_ns.map((v) => v ?? -Infinity)))
          ? "The scale spans at least 25% above the fastest step, so small differences stay pale" : null }, formatNs(range.hi)),
        r.hosts.length > 1 ? h("span", { class: "has-tip", title: "The host that held the step up: the most time of its own (step time less exposed collective time) and the least waiting for the others. Not always the longest cell: the others' steps are long because they waited for it." }, h("i", { class: "outline" }), "framed: the host the others waited for") : null,
        h("span", { class: "muted" }, "· click a cell to open that host's step in the trace"),
        r.shown && r.shown.steps < r.shown.of ? h("span", { class: "warn", "data-testid": "hosts-steps-shown" }, `· ${r.shown.steps} of ${r.shown.of} steps shown, evenly spaced`) : null),
      wrap,
      this.skew(r),
      this.hostTable(r),
      this.devices);
    requestAnimationFrame(() => this.draw());
    return this.el;
  }

  private skew(r: HostsSteps): HTMLElement {
    const k = r.skew;
    const card = (label: string, value: string, title: string, testid?: string) =>
      h("div", { class: "card", title, "data-testid": testid }, h("div", { class: "card-label" }, label), h("div", { class: "card-value" }, value));
    if (r.hosts.length < 2) {
      return h("p", { class: "muted small" }, "One host: no skew between hosts. Pick it below for its per-device breakdown.");
    }
    return h("div", { class: "cards compact skew", "data-testid": "skew" },
      card("Mean spread", formatNs(k.mean_spread_ns), "Per step, the slowest host's step time minus the fastest's; mean over steps", "skew-mean"),
      card("Max spread", formatNs(k.max_spread_ns), "The largest spread between the slowest and fastest host in any step"),
      card("Mean spread %", k.mean_spread_pct === null ? "–" : `${k.mean_spread_pct.toFixed(1)}%`, "Spread as a share of the step's median host time, mean over steps"),
      card("Host CV", k.cv === null ? "–" : formatPct(k.cv), "Coefficient of variation of the hosts' mean step times (std ÷ mean)"));
  }

  private hostTable(r: HostsSteps): HTMLElement {
    const n = r.steps.length;
    // The hosts that held the others up first, then the slowest: in a pod, the ones to read.
    const order = [...r.hosts].sort((a, b) => b.slowest_count - a.slowest_count || (b.mean_dur_ns ?? 0) - (a.mean_dur_ns ?? 0));
    const table = h("table", { class: "table host-table", "data-testid": "host-table" },
      h("thead", null, h("tr", null,
        h("th", null, "Host"), h("th", { class: "num" }, "Devices"),
        h("th", { class: "num", title: "Mean over the host's complete steps" }, "Mean step"),
        h("th", { class: "num", title: "Steps in which the other hosts waited for this one (framed in the heatmap)" }, "Held up"),
        h("th", { title: "Mean per step, averaged over the host's devices: compute, collectives, host-side, idle" }, "Breakdown per step"),
        ...PARTS.map((p) => h("th", { class: "num" }, h("i", { class: "swatch", style: `background:${p.color}` }), p.label)),
        h("th", null, ""))),
      h("tbody", null, ...order.map((x, i) => {
        const m = Object.fromEntries(PARTS.map((p) => [p.key, meanOf(x[p.key])])) as Record<PartKey, number | null>;
        const title = PARTS.map((p) => `${p.label} ${formatNs(m[p.key])}`).join(", ");
        const btn = h("button", { class: "linklike", type: "button", "data-testid": "host-devices", title: `Per-device breakdown of ${x.host}` }, "devices ▸");
        btn.addEventListener("click", () => void this.pick(x.host));
        const first = x.start_ns.findIndex((s) => s !== null);
        const s0 = first >= 0 ? x.start_ns[first]! : null;
        const d0 = first >= 0 ? x.dur_ns[first] : null;
        const trace = s0 !== null && d0 !== null && d0 !== undefined
          ? h("a", { href: this.href({ tab: "trace", t0: Math.max(0, Math.round(s0 - d0 * 0.05)), t1: Math.round(s0 + d0 * 1.05), host: x.host }), title: `${x.host}'s step ${r.steps[first]} in the trace` }, x.host)
          : x.host;
        return h("tr", { "data-testid": "hosts-steps-row", "data-host": x.host, hidden: i >= HOST_ROWS },
          h("td", null, trace),
          h("td", { class: "num" }, String(x.devices.length)),
          h("td", { class: "num" }, formatNs(x.mean_dur_ns)),
          h("td", { class: "num" }, r.hosts.length > 1 ? `${x.slowest_count} of ${n}` : "–"),
          h("td", null, stackBar(PARTS.map((p) => ({ label: p.label, color: p.color, v: m[p.key] })), x.mean_dur_ns, title)),
          ...PARTS.map((p) => h("td", { class: "num" }, formatNs(m[p.key]))),
          h("td", null, btn));
      })));
    if (order.length <= HOST_ROWS) return table;
    const more = h("button", { class: "btn small", type: "button", "data-testid": "hosts-more" }, `Show all ${order.length} hosts`);
    more.addEventListener("click", () => {
      for (const tr of table.querySelectorAll<HTMLElement>("tbody tr")) tr.hidden = false;
      more.remove();
    });
    return h("div", null, h("p", { class: "muted small" }, `Hosts that held the others up first, then by mean step; ${HOST_ROWS} of ${order.length} shown.`), table, more);
  }

  /** Show a host's per-device breakdown (the URL's host: a finding's link) and bring it into view. */
  focus(host: string): void {
    if (host === this.picked) return;
    if (this.hm && !this.hm.rows.includes(host)) return;
    void this.pick(host).then(() => this.devices.scrollIntoView({ block: "center" }));
  }

  private async pick(host: string): Promise<void> {
    this.picked = host;
    for (const r of this.el.querySelectorAll<HTMLElement>("[data-testid=hosts-steps-row]")) {
      r.classList.toggle("selected", r.dataset.host === host);
      if (r.dataset.host === host) r.hidden = false;
    }
    replace(this.devices, loading(`devices of ${host}`));
    try {
      const r = await this.api.hostsSteps(this.profileId, host);
      if (this.picked !== host) return;
      if (!r.available || !r.device_breakdown) {
        replace(this.devices, emptyState(`No per-device breakdown for ${host}.`));
        return;
      }
      replace(this.devices, this.deviceTable(r.device_breakdown, r.steps.length));
    } catch (e) {
      replace(this.devices, errorState(e, () => void this.pick(host)));
    }
  }

  private deviceTable(d: DeviceBreakdown, steps: number): HTMLElement {
    const parts = deviceParts(d);
    const busy = d.busy_ns.map((row) => meanOf(row));
    const med = [...busy].filter((x): x is number => x !== null).sort((a, b) => a - b);
    const median = med.length ? med[Math.floor((med.length - 1) / 2)]! : null;
    const hostSide = parts.some((p) => p.key === "host_ns");
    return h("div", null,
      h("h4", null, `Devices of ${d.host}`, h("span", { class: "muted small" },
        ` · mean per step over ${steps} steps; busy = compute + collectives; `,
        hostSide
          ? "compute + collectives + host-side + idle = the step (host-side: no device of the host busy, the same for every device)"
          : "compute + collectives + idle = the step less the host-side time (not in this profile's breakdown: re-ingest for it)")),
      h("table", { class: "table", "data-testid": "device-table" },
        h("thead", null, h("tr", null, h("th", null, "Device"), h("th", { class: "num" }, "Busy"),
          h("th", { class: "num", title: "Busy time over the median device's" }, "vs median"),
          h("th", null, "Breakdown"),
          ...parts.map((p) => h("th", { class: "num" }, h("i", { class: "swatch", style: `background:${p.color}` }), p.label)))),
        h("tbody", null, ...d.devices.map((dev, i) => {
          const m = parts.map((p) => p.mean[i] ?? null);
          const b = busy[i] ?? null;
          const title = parts.map((p, j) => `${p.label} ${formatNs(m[j])}`).join(", ");
          return h("tr", { "data-testid": "device-row" },
            h("td", null, h("a", { href: this.href({ tab: "trace", host: d.host, dev }) }, `device ${dev}`)),
            h("td", { class: "num" }, formatNs(b)),
            h("td", { class: "num" }, b !== null && median ? `${b >= median ? "+" : ""}${formatPct(b / median - 1)}` : "–"),
            h("td", null, stackBar(parts.map((p, j) => ({ label: p.label, color: p.color, v: m[j] ?? null })), null, title)),
            ...m.map((v) => h("td", { class: "num" }, formatNs(v))));
        }))));
  }

  draw(): void {
    if (!this.canvas || !this.hm || !this.canvas.isConnected) return;
    const scroller = this.canvas.parentElement!;
    const w = scroller.clientWidth;
    if (w <= 0) return;
    this.g = heatmapGeometry(this.hm, w, GUTTER);
    const width = Math.max(w, this.g.left + this.g.plotW + 8);
    const height = heatmapHeight(this.g);
    const ctx = fitCanvas(this.canvas, width, height);
    drawHeatmap(ctx, this.hm, this.g, width, this.colors(), this.hover);
  }
}
