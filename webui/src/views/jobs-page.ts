// Jobs: every registered job with its live and stale hosts (polled), a
// Capture button with a duration, live capture progress (a long poll of
// GET /api/v1/captures/<id>: answered the moment its state moves on, and
// every 2 s for its hosts' rows) and a link to the resulting profile.

import { ApiError, isAbort, type ApiClient } from "../api/client";
import type { Capture, Job, Session } from "../api/wire";
import { formatAgo, formatBytes, formatNs } from "../lib/format";
import { profilePath } from "../lib/viewstate";
import { h, replace } from "./dom";
import { emptyState, errorState, loading } from "./states";

const JOBS_POLL_MS = 3000;
const CAPTURE_POLL_S = 2;

interface Card {
  el: HTMLElement;
  hosts: HTMLElement;
  summary: HTMLElement;
  button: HTMLButtonElement | null;
  progress: HTMLElement;
  capturing: boolean;
}

export function captureDone(c: Capture): boolean {
  return c.state === "done" || c.state === "failed";
}

export class JobsPage {
  readonly el = h("div", { class: "page jobs-page" });
  private readonly list = h("div", { class: "jobs" });
  private cards = new Map<string, Card>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private controller: AbortController | null = null;
  // Ends the captures' long polls when the page goes (a poll otherwise stays open 2 s).
  private readonly captures = new AbortController();
  private destroyed = false;
  private loaded = false;

  constructor(
    private readonly api: ApiClient,
    private readonly session: Session,
  ) {
    this.el.append(h("header", { class: "page-head" }, h("h1", null, "Jobs"), h("span", { class: "spacer" }),
      h("span", { class: "muted small" }, "Hosts heartbeat every few seconds; a host that stops is marked stale.")), this.list);
    replace(this.list, loading("jobs"));
    void this.poll();
  }

  destroy(): void {
    this.destroyed = true;
    this.controller?.abort();
    this.captures.abort();
    if (this.timer) clearTimeout(this.timer);
  }

  private async poll(): Promise<void> {
    this.controller = new AbortController();
    try {
      const jobs = await this.api.jobs(this.controller.signal);
      if (this.destroyed) return;
      this.render(jobs);
      this.loaded = true;
    } catch (e) {
      if (isAbort(e) || this.destroyed) return;
      if (!this.loaded) replace(this.list, errorState(e, () => void this.poll()));
    }
    if (!this.destroyed) this.timer = setTimeout(() => void this.poll(), JOBS_POLL_MS);
  }

  private render(jobs: Job[]): void {
    if (!jobs.length) {
      this.cards.clear();
      replace(this.list, emptyState("no jobs registered — start your job with `xdiag.agent.start(...)`",
        "The agent registers the job with this server and heartbeats; pass `server=\"http://<this host>:8791\"` or set `XDIAG_SERVER`."));
      return;
    }
    if (!this.cards.size) replace(this.list);
    const seen = new Set<string>();
    for (const job of jobs) {
      seen.add(job.job);
      let card = this.cards.get(job.job);
      if (!card) {
        card = this.card(job);
        this.cards.set(job.job, card);
        this.list.append(card.el);
      }
      this.updateCard(card, job);
    }
    for (const [name, card] of this.cards) {
      if (!seen.has(name) && !card.capturing) {
        card.el.remove();
        this.cards.delete(name);
      }
    }
  }

  private card(job: Job): Card {
    const readOnly = this.session.read_only || this.session.role === "viewer";
    const summary = h("span", { class: "muted small" });
    const hosts = h("div", { class: "table-scroll" });
    const progress = h("div", { class: "capture-progress", "data-testid": "capture-progress", "aria-live": "polite" });
    let button: HTMLButtonElement | null = null;
    let form: HTMLElement | null = null;
    if (!readOnly) {
      const duration = h("input", {
        type: "number", class: "input narrow", min: 100, max: 600000, step: 100, value: 2000,
        "aria-label": `Capture duration for ${job.job} (ms)`, "data-testid": "capture-duration",
      });
      button = h("button", { class: "btn primary", type: "submit", "data-testid": "capture-button" }, "Capture");
      form = h("form", { class: "row capture-form" }, h("label", null, "Duration ", duration, " ms"), button);
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        const ms = Math.round(Number(duration.value));
        if (!(ms >= 100)) {
          replace(progress, h("span", { class: "error-text" }, "Enter a duration of at least 100 ms."));
          return;
        }
        void this.capture(job.job, ms);
      });
    }
    const el = h("section", { class: "job-card", "data-testid": "job-card", "data-job": job.job },
      h("div", { class: "job-head" }, h("h2", null, job.job), summary, h("span", { class: "spacer" }), form),
      progress, hosts);
    return { el, hosts, summary, button, progress, capturing: false };
  }

  private updateCard(card: Card, job: Job): void {
    card.summary.textContent = `${job.live} live · ${job.stale} stale`;
    if (card.button) {
      card.button.disabled = card.capturing || job.live === 0;
      card.button.title = job.live === 0 ? "No live host: start the job, or wait for its agent to heartbeat" : `Capture a trace on all ${job.live} live host(s)`;
    }
    const hosts = [...job.hosts].sort((a, b) => a.process_index - b.process_index);
    replace(card.hosts, h("table", { class: "table", "data-testid": "hosts-table" },
      h("thead", null, h("tr", null, ...["#", "Address", "Hostname", "Devices", "JAX", "Peaks", "Last seen", "State"].map((t) => h("th", null, t)))),
      h("tbody", null, ...hosts.map((x) => h("tr", { "data-testid": "host-row", "data-state": x.state },
        h("td", null, `${x.process_index}/${x.process_count}`),
        h("td", null, h("code", null, `${x.host}:${x.port}`)),
        h("td", null, x.hostname),
        h("td", null, `${x.local_device_count}× ${x.device_kind}`, x.device_count !== x.local_device_count ? h("span", { class: "muted" }, ` (${x.device_count} total)`) : null),
        h("td", null, x.jax_version),
        h("td", { class: "small" }, x.peaks ? `${x.peaks.matmul_gflops.toFixed(0)} GFLOP/s · ${x.peaks.memcpy_gbps.toFixed(1)} GB/s` : "–"),
        h("td", null, formatAgo(x.last_seen)),
        h("td", null, h("span", { class: `tag tag-${x.state}` }, x.state)))))));
  }

  private async capture(jobName: string, durationMs: number): Promise<void> {
    const card = this.cards.get(jobName);
    if (!card) return;
    card.capturing = true;
    if (card.button) card.button.disabled = true;
    replace(card.progress, h("span", { class: "spinner" }), " Starting capture…");
    try {
      let c = await this.api.startCapture({ job: jobName, duration_ms: durationMs });
      this.showCapture(card, c);
      while (!captureDone(c) && !this.destroyed) {
        // Answered at once when the state moves on; the hosts' rows (state, bytes) change
        // within a state, so the poll also returns every CAPTURE_POLL_S to show them.
        c = await this.api.capture(c.id, this.captures.signal, { state: c.state, timeoutS: CAPTURE_POLL_S });
        this.showCapture(card, c);
      }
    } catch (e) {
      if (isAbort(e) || this.destroyed) return;
      replace(card.progress, errorState(e instanceof ApiError ? e : new Error(String(e))));
    } finally {
      card.capturing = false;
      if (card.button) card.button.disabled = false;
    }
  }

  private showCapture(card: Card, c: Capture): void {
    const steps = ["capturing", "saving", "ingesting", "done"];
    const at = steps.indexOf(c.state);
    const link = c.profile_id ? (c.url && c.url.startsWith("/") ? c.url : profilePath(c.profile_id)) : null;
    replace(card.progress,
      h("div", { class: "steps-progress", "data-state": c.state, "data-testid": "capture-state" },
        ...steps.map((s, i) => h("span", { class: `pstep${i < at || c.state === "done" ? " done" : ""}${i === at && c.state !== "done" ? " active" : ""}` }, s)),
        c.state === "failed" ? h("span", { class: "pstep failed" }, "failed") : null),
      h("ul", { class: "capture-hosts" }, ...c.hosts.map((x) => h("li", null,
        h("code", null, x.address || x.host), " ", h("span", { class: `tag tag-${x.state}` }, x.state),
        x.bytes !== null ? ` ${formatBytes(x.bytes)}` : "",
        x.window_ns ? h("span", { class: "muted small" }, ` window ${formatNs(x.window_ns[1] - x.window_ns[0])}`) : null,
        x.error ? h("div", { class: "error-text small" }, x.error) : null))),
      c.windows_overlap === false ? h("p", { class: "warn small" }, "The hosts' trace windows do not overlap: their clocks may be skewed; compare steps, not absolute times.") : null,
      c.error ? h("p", { class: "error-text" }, c.error) : null,
      link ? h("p", null, h("a", { href: link, class: "btn primary", "data-testid": "capture-result-link" }, c.state === "done" ? "Open profile →" : "Open profile (ingesting) →")) : null);
  }
}
