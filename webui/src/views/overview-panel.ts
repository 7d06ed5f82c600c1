// The Overview tab leads with what to fix: a one-line headline (median step
// time, MFU; overview/headline.ts), the ranked findings of the diagnosis
// (overview/findings-section.ts), the hosts × steps heatmap with skew and
// breakdowns (hosts-steps-section.ts), then the compact summary strip, a
// stacked bar per step (click one to open it in the trace), time by JAX named
// scope (framework-section.ts) and the top ops by time.

import type { Diagnosis, NotAvailable, Op, OpsResponse, Step, StepsResponse } from "../api/wire";
import type { ViewState } from "../lib/viewstate";
import { formatBytes, formatCount, formatDateTime, formatNs, formatPct } from "../lib/format";
import { fitCanvas } from "../render/canvas";
import { drawSteps, stepAt, STEP_PARTS, type StepsGeometry } from "../render/steps-chart";
import { h, replace } from "./dom";
import type { Panel, PanelContext } from "./panel";
import { FrameworkSection } from "./overview/framework-section";
import { findingsSection } from "./overview/findings-section";
import { headlineItems, OVER_PEAK } from "./overview/headline";
import { HostsStepsSection } from "./overview/hosts-steps-section";
import "./overview/overview.css";
import { emptyState, errorState, loading } from "./states";

export class OverviewPanel implements Panel {
  readonly el = h("section", { class: "panel overview-panel", "data-testid": "panel-overview" });
  private started = false;
  private steps: Step[] = [];
  private canvas: HTMLCanvasElement | null = null;
  private geometry: StepsGeometry | null = null;
  private hover = -1;
  private resize: ResizeObserver | null = null;
  private unsub: (() => void) | null = null;
  private hostsSteps: HostsStepsSection | null = null;
  private framework: FrameworkSection | null = null;
  private scope: string | undefined;
  private host: string | undefined;
  private justShown = false;

  constructor(private readonly ctx: PanelContext) {
    this.scope = ctx.view().scope;
  }

  show(): void {
    this.justShown = true;
    if (!this.started) {
      this.started = true;
      void this.load();
    }
    this.draw();
  }
  hide(): void {}
  update(v: ViewState): void {
    // A link on this page naming a host (a finding's "Devices of ...") opens its devices;
    // a host left in the URL by the trace does not move the page when the tab comes back.
    if (this.justShown) this.host = v.host;
    else if (v.host !== this.host) {
      this.host = v.host;
      if (v.host) this.hostsSteps?.focus(v.host);
    }
    this.justShown = false;
    if (v.scope === this.scope) return;
    this.scope = v.scope;
    this.framework?.setFocus(v.scope);
    // A finding's scope link: bring the framework view to the reader.
    if (v.scope) this.framework?.el.scrollIntoView({ block: "start", behavior: "smooth" });
  }
  destroy(): void {
    this.resize?.disconnect();
    this.unsub?.();
  }

  private async load(): Promise<void> {
    replace(this.el, loading("overview"));
    const id = this.ctx.profile.id;
    const api = this.ctx.api;
    const [steps, ops, diagnosis, hosts, framework] = await Promise.allSettled([
      api.steps(id), api.ops(id), api.diagnosis(id), api.hostsSteps(id), api.framework(id)]);
    const err = (r: PromiseSettledResult<unknown>) => (r.status === "rejected" ? (r.reason instanceof Error ? r.reason : new Error(String(r.reason))) : null);
    const stepsV = steps.status === "fulfilled" ? steps.value : null;
    replace(this.el, this.headline(stepsV, diagnosis.status === "fulfilled" ? diagnosis.value : null));
    const retry = () => { this.started = false; this.show(); };
    if (diagnosis.status === "fulfilled") this.el.append(findingsSection(diagnosis.value, (v) => this.ctx.href(v), id));
    else this.el.append(h("h3", null, "Findings"), errorState(diagnosis.reason, retry));
    const cssv = (n: string, f: string) => getComputedStyle(this.el).getPropertyValue(n).trim() || f;
    this.hostsSteps = new HostsStepsSection(api, id, (v) => this.ctx.href(v), (v) => this.ctx.setView(v, true),
      () => ({ bg: cssv("--bg", "#fff"), fg: cssv("--fg", "#111"), muted: cssv("--muted", "#666"), grid: cssv("--tl-grid", "#e5e8ee"), empty: cssv("--bg2", "#f7f8fa") }));
    this.el.append(this.hostsSteps.render(hosts.status === "fulfilled" ? hosts.value : err(hosts)!));
    this.el.append(h("h3", null, "Summary"), this.summary(stepsV));
    if (steps.status === "fulfilled") this.el.append(this.stepsSection(steps.value));
    else this.el.append(h("h3", null, "Steps"), errorState(steps.reason, retry));
    this.framework = new FrameworkSection(id, (v) => this.ctx.href(v), (path) => this.ctx.setView({ tab: "overview", scope: path }),
      () => this.ctx.theme.get() === "dark",
      () => ({ bg: cssv("--bg", "#fff"), fg: cssv("--fg", "#111"), accent: cssv("--accent", "#1a73e8") }));
    this.el.append(this.framework.render(framework.status === "fulfilled" ? framework.value : err(framework)!, this.scope));
    this.el.append(h("h3", null, "Top ops"));
    if (ops.status === "fulfilled") this.el.append(this.topOps(ops.value));
    else this.el.append(errorState(ops.reason));
    if (!this.resize) {
      this.resize = new ResizeObserver(() => this.draw());
      this.resize.observe(this.el);
    }
    if (!this.unsub) this.unsub = this.ctx.theme.subscribe(() => this.draw());
    this.draw();
    if (this.scope) requestAnimationFrame(() => this.framework?.el.scrollIntoView({ block: "start" }));
    else if (this.ctx.view().host) this.hostsSteps.focus(this.ctx.view().host!);
  }

  private headline(s: StepsResponse | null, d: Diagnosis | NotAvailable | null): HTMLElement {
    const items = headlineItems(s?.summary ?? null, d);
    return h("div", { class: "overview-headline", "data-testid": "overview-headline" },
      ...items.map((it) => h("span", { class: `hl-item${it.warn ? " warn" : ""}`, "data-testid": `headline-${it.key}`, title: it.title ?? null },
        it.label ? h("span", { class: "hl-label" }, `${it.label} `) : null, h("strong", null, it.value), it.warn ? " ⚠" : null)));
  }

  private summary(s: StepsResponse | null): HTMLElement {
    const p = this.ctx.profile;
    const card = (label: string, value: string, testid?: string, title?: string) =>
      h("div", { class: "card", "data-testid": testid, title }, h("div", { class: "card-label" }, label), h("div", { class: "card-value" }, value));
    const sum = s?.summary;
    const cut = sum?.incomplete ?? 0;
    const stepDef = "A step runs from when its host side began (its StepTraceAnnotation) and the devices had finished earlier work, to when its last device op ended: the time a training loop measures to the moment it sees the step's result.";
    const pct = (v: number | null | undefined) => (v === null || v === undefined ? "–" : formatPct(v));
    return h("div", { class: "cards compact", "data-testid": "overview-summary" },
      card("Steps", formatCount(sum?.complete ?? sum?.count ?? 0) + (cut ? ` (+${cut} cut off)` : ""), "overview-steps",
        cut ? `${cut} step(s) whose device work the capture cut off are listed but left out of the statistics` : undefined),
      card("Mean step time", formatNs(sum?.mean_ns), "overview-step-time", stepDef),
      card("p50 / p90", `${formatNs(sum?.p50_ns)} / ${formatNs(sum?.p90_ns)}`, undefined, stepDef),
      card("Host dispatch", formatNs(sum?.host_dispatch_mean_ns), "overview-dispatch",
        "Mean time the host spent inside a step's annotation (input and dispatch). With asynchronous dispatch the device runs the step later: this is not the step time."),
      card("MFU", pct(sum?.mfu), "overview-mfu",
        `Model FLOPs utilisation: ${sum?.mfu_source ?? "FLOPs"} over the peak FLOP/s of the devices (on CPU, the host's measured peak, shared by its devices)` + ((sum?.mfu ?? 0) > 1 ? `\n${OVER_PEAK}` : "")),
      card("HFU", pct(sum?.hfu), "overview-hfu",
        "Hardware FLOPs utilisation: the FLOPs of the ops that ran (HLO cost model: padded tiles, recomputation and elementwise work included) over the same peak" + ((sum?.hfu ?? 0) > 1 ? `\n${OVER_PEAK}` : "")),
      card("Events", formatCount(p.events)),
      card("Duration", formatNs(p.duration_ns)),
      card("Hosts", String(p.hosts.length), undefined, p.hosts.map((x) => `${x.host}: ${formatBytes(x.bytes)}`).join("\n")),
      card("Captured", formatDateTime(p.created_at), undefined, p.source),
      p.ingest ? card("Ingest", `${p.ingest.seconds.toFixed(1)} s`, undefined, `${formatCount(p.ingest.events_per_s)} events/s, version ${p.ingest.version}`) : null,
    );
  }

  private stepsSection(s: StepsResponse): HTMLElement {
    this.steps = s.steps;
    if (!s.steps.length) {
      return h("div", null, h("h3", null, "Steps"),
        emptyState("No training steps were found in this profile.", "Steps come from `StepTraceAnnotation` events: wrap each step in `jax.profiler.StepTraceAnnotation(\"train\", step_num=i)`."));
    }
    this.canvas = h("canvas", { class: "steps-canvas", "data-testid": "steps-chart", role: "img", "aria-label": `Step times of ${s.steps.length} steps` });
    const tip = h("div", { class: "tooltip", hidden: true });
    const wrap = h("div", { class: "steps-wrap" }, this.canvas, tip);
    this.canvas.addEventListener("mousemove", (e) => {
      if (!this.geometry) return;
      const i = stepAt(this.steps, this.geometry, e.offsetX);
      if (i !== this.hover) {
        this.hover = i;
        this.draw();
      }
      if (i < 0) {
        tip.hidden = true;
        return;
      }
      const st = this.steps[i]!;
      replace(tip, h("strong", null, `step ${st.step}: ${formatNs(st.dur_ns)}` + (st.complete === false ? " (cut off by the capture)" : "")),
        ...STEP_PARTS.map((p) => h("div", null, `${p.label}: ${formatNs(st[p.key] as number)}`)),
        st.host_dur_ns !== undefined ? h("div", { class: "muted" }, `host dispatch: ${formatNs(st.host_dur_ns)}`) : null,
        st.mfu !== null ? h("div", null, `MFU ${formatPct(st.mfu)}` + (st.hfu !== null && st.hfu !== undefined ? ` · HFU ${formatPct(st.hfu)}` : "")) : null,
        h("div", { class: "muted" }, "click to open in the trace"));
      tip.hidden = false;
      tip.style.transform = `translate(${Math.min(e.offsetX + 12, wrap.clientWidth - 180)}px, ${e.offsetY + 12}px)`;
    });
    this.canvas.addEventListener("mouseleave", () => {
      tip.hidden = true;
      this.hover = -1;
      this.draw();
    });
    this.canvas.addEventListener("click", (e) => {
      if (!this.geometry) return;
      const i = stepAt(this.steps, this.geometry, e.offsetX);
      if (i < 0) return;
      const st = this.steps[i]!;
      const pad = st.dur_ns * 0.02;
      this.ctx.setView({ tab: "trace", t0: Math.max(0, Math.round(st.start_ns - pad)), t1: Math.round(st.start_ns + st.dur_ns + pad) }, true);
    });
    return h("div", null,
      h("h3", null, "Step time"),
      h("div", { class: "legend" }, ...STEP_PARTS.map((p) => h("span", null, h("i", { style: `background:${p.color}` }), p.label))),
      wrap);
  }

  private draw(): void {
    this.hostsSteps?.draw();
    this.framework?.draw();
    if (!this.canvas || !this.canvas.isConnected) return;
    const w = this.canvas.parentElement!.clientWidth;
    if (w <= 0) return;
    const cs = getComputedStyle(this.el);
    const v = (n: string, f: string) => cs.getPropertyValue(n).trim() || f;
    const ctx = fitCanvas(this.canvas, w, 220);
    this.geometry = drawSteps(ctx, this.steps, w, 220,
      { bg: v("--bg", "#fff"), fg: v("--fg", "#111"), muted: v("--muted", "#666"), grid: v("--tl-grid", "#e5e8ee") }, this.hover);
  }

  private topOps(r: OpsResponse): HTMLElement {
    const ops = [...r.ops].sort((a, b) => b.self_ns - a.self_ns).slice(0, 12);
    if (!ops.length) return emptyState("No XLA ops were found in this profile.", "The profile may hold only host events; capture while the job runs compiled steps.");
    const link = (o: Op, tab: "ops" | "hlo", text: string) => h("a", { href: this.ctx.href({ tab, module: o.module, op: o.op }) }, text);
    return h("table", { class: "table", "data-testid": "top-ops" },
      h("thead", null, h("tr", null, ...["Op", "Module", "Category", "Self %", "Self time", "Bound by", ""].map((t, i) => h("th", {
        class: i >= 3 && i <= 4 ? "num" : null,
        title: i === 3 ? "Share of the devices' busy time spent in the op itself (as on the Op profile)" : i === 4 ? "Time in the op itself, nested ops excluded, summed over devices" : null,
      }, t)))),
      h("tbody", null, ...ops.map((o) => h("tr", null,
        h("td", null, link(o, "ops", o.op)),
        h("td", null, h("span", { class: "muted ellipsis", title: o.module }, o.module)),
        h("td", null, o.category),
        h("td", { class: "num" }, h("span", { class: "bar", style: `--w:${Math.min(100, o.share * 100)}%` }), h("span", { class: "pct" }, formatPct(o.share))),
        h("td", { class: "num" }, formatNs(o.self_ns)),
        h("td", null, o.bound_by ?? "–"),
        h("td", null, link(o, "hlo", "HLO"))))));
  }
}
