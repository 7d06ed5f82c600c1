// The profiles list: search, filter by run / job / status, ingest state and
// errors, upload, delete, and "Diff" of two selected profiles.

import { isAbort, type ApiClient } from "../api/client";
import type { Profile, Session } from "../api/wire";
import { baselineFirst } from "../lib/diff";
import { formatBytes, formatCount, formatDateTime, formatNs } from "../lib/format";
import { profilePath } from "../lib/viewstate";
import { diffPath, profilesPath } from "../state/route";
import type { Router } from "../state/router";
import { h, replace } from "./dom";
import { emptyState, errorState, loading, toast } from "./states";

interface Filters {
  q: string;
  run: string;
  job: string;
  status: string;
}

export class ProfilesPage {
  readonly el = h("div", { class: "page profiles-page" });
  private readonly listHost = h("div", { class: "table-scroll" });
  private readonly diffBtn = h("button", { class: "btn", disabled: true, "data-testid": "diff-button", title: "Select two profiles to compare: the older one is the baseline (A)" }, "Diff selected");
  private readonly runSel = h("select", { class: "input", "aria-label": "Run", "data-testid": "filter-run" });
  private readonly jobSel = h("select", { class: "input", "aria-label": "Job", "data-testid": "filter-job" });
  private readonly statusSel = h("select", { class: "input", "aria-label": "Status", "data-testid": "filter-status" },
    h("option", { value: "" }, "Any status"), ...["ready", "ingesting", "failed"].map((s) => h("option", { value: s }, s)));
  private readonly search = h("input", { type: "search", class: "input", placeholder: "Search profiles (id, run, session, job)", "aria-label": "Search profiles", "data-testid": "profiles-search" });
  private selected: string[] = [];
  private profiles: Profile[] = [];
  private known = { runs: new Set<string>(), jobs: new Set<string>() };
  private controller: AbortController | null = null;
  private pollTimer: ReturnType<typeof setTimeout> | null = null;
  private debounce: ReturnType<typeof setTimeout> | null = null;
  private destroyed = false;

  constructor(
    private readonly api: ApiClient,
    private readonly router: Router,
    private readonly session: Session,
    private filters: Filters,
  ) {
    const canEdit = !session.read_only && session.role !== "viewer";
    this.search.value = filters.q;
    this.search.addEventListener("input", () => {
      if (this.debounce) clearTimeout(this.debounce);
      this.debounce = setTimeout(() => this.setFilters({ q: this.search.value.trim() }), 200);
    });
    for (const [sel, key] of [[this.runSel, "run"], [this.jobSel, "job"], [this.statusSel, "status"]] as const) {
      sel.addEventListener("change", () => this.setFilters({ [key]: sel.value }));
    }
    this.statusSel.value = filters.status;
    this.diffBtn.addEventListener("click", () => {
      // The baseline is the older capture, whichever was ticked first.
      const [a, b] = this.selected.map((id) => this.profiles.find((p) => p.id === id));
      if (a && b) {
        const [base, cand] = baselineFirst(a, b);
        this.router.navigate(diffPath(base.id, cand.id));
      }
    });
    const upload = canEdit ? this.uploadControl() : null;
    this.el.append(
      h("header", { class: "page-head" }, h("h1", null, "Profiles"), h("span", { class: "spacer" }), upload),
      h("div", { class: "toolbar" }, this.search, this.runSel, this.jobSel, this.statusSel, h("span", { class: "spacer" }), this.diffBtn),
      this.listHost);
    void this.load();
  }

  destroy(): void {
    this.destroyed = true;
    this.controller?.abort();
    if (this.pollTimer) clearTimeout(this.pollTimer);
  }

  private setFilters(patch: Partial<Filters>): void {
    this.filters = { ...this.filters, ...patch };
    this.router.setUrlQuietly(profilesPath(this.filters));
    void this.load();
  }

  private async load(quiet = false): Promise<void> {
    this.controller?.abort();
    const controller = (this.controller = new AbortController());
    if (this.pollTimer) clearTimeout(this.pollTimer);
    if (!quiet && !this.profiles.length) replace(this.listHost, loading("profiles"));
    try {
      const { q, run, job, status } = this.filters;
      this.profiles = await this.api.profiles({ q, run, job, status }, controller.signal);
    } catch (e) {
      if (isAbort(e) || this.destroyed) return;
      replace(this.listHost, errorState(e, () => void this.load()));
      return;
    }
    if (this.destroyed) return;
    for (const p of this.profiles) {
      this.known.runs.add(p.run);
      if (p.job) this.known.jobs.add(p.job);
    }
    this.fillSelect(this.runSel, "Any run", this.known.runs, this.filters.run);
    this.fillSelect(this.jobSel, "Any job", this.known.jobs, this.filters.job);
    this.render();
    if (this.profiles.some((p) => p.status === "ingesting")) this.pollTimer = setTimeout(() => void this.load(true), 2000);
  }

  private fillSelect(sel: HTMLSelectElement, any: string, values: Set<string>, current: string): void {
    const vals = [...values].sort();
    if (current && !values.has(current)) vals.push(current);
    replace(sel, h("option", { value: "" }, any), ...vals.map((v) => h("option", { value: v }, v)));
    sel.value = current;
  }

  private render(): void {
    const filtered = this.filters.q || this.filters.run || this.filters.job || this.filters.status;
    if (!this.profiles.length) {
      replace(this.listHost, filtered
        ? emptyState("No profile matches these filters.", "Clear the search box and filters to see every profile.")
        : emptyState("No profiles yet.", "Capture one from the Jobs page or with `xdiag capture JOB`, or upload an `.xplane.pb` with `xdiag upload PATH`."));
      return;
    }
    const canEdit = !this.session.read_only && this.session.role !== "viewer";
    this.selected = this.selected.filter((id) => this.profiles.some((p) => p.id === id));
    this.updateDiff();
    const rows = this.profiles.map((p) => {
      const cb = h("input", { type: "checkbox", "aria-label": `Select ${p.id} for diff`, checked: this.selected.includes(p.id), disabled: p.status !== "ready", "data-testid": "profile-select" });
      cb.addEventListener("change", () => {
        if (cb.checked) {
          this.selected.push(p.id);
          if (this.selected.length > 2) this.selected.shift();
        } else this.selected = this.selected.filter((x) => x !== p.id);
        this.render();
      });
      return h("tr", { "data-testid": "profile-row", "data-id": p.id },
        h("td", null, cb),
        h("td", null, h("a", { href: profilePath(p.id), "data-testid": "profile-link" }, p.session || p.id), h("div", { class: "muted small" }, p.run)),
        h("td", null, h("span", { class: `tag tag-${p.status}` }, p.status),
          p.status === "failed" && p.error ? h("div", { class: "error-text small", "data-testid": "profile-error" }, p.error) : null),
        h("td", null, p.job ?? "–"),
        h("td", null, p.source),
        h("td", { class: "num" }, String(p.hosts.length)),
        h("td", { class: "num" }, formatCount(p.events)),
        h("td", { class: "num" }, formatNs(p.duration_ns)),
        h("td", { class: "num" }, formatBytes(p.hosts.reduce((s, x) => s + (x.bytes || 0), 0))),
        h("td", { class: "num", title: p.ingest ? `${formatCount(p.ingest.events_per_s)} events/s` : "" }, p.ingest ? `${p.ingest.seconds.toFixed(1)} s` : "–"),
        h("td", null, formatDateTime(p.created_at)),
        h("td", null, canEdit ? h("button", { class: "btn small danger", "aria-label": `Delete ${p.id}`, "data-testid": "profile-delete", onclick: () => void this.remove(p) }, "Delete") : null));
    });
    replace(this.listHost, h("table", { class: "table", "data-testid": "profiles-table" },
      h("thead", null, h("tr", null, ...["", "Profile", "Status", "Job", "Source", "Hosts", "Events", "Duration", "Raw size", "Ingest", "Created", ""].map((t, i) =>
        h("th", { class: i >= 5 && i <= 9 ? "num" : null, scope: "col" }, t)))),
      h("tbody", null, ...rows)));
  }

  private updateDiff(): void {
    this.diffBtn.disabled = this.selected.length !== 2;
    this.diffBtn.textContent = this.selected.length === 2 ? "Diff selected (2)" : `Diff selected (${this.selected.length}/2)`;
  }

  private async remove(p: Profile): Promise<void> {
    if (!confirm(`Delete profile ${p.id}? Its raw and derived files are removed from the store.`)) return;
    try {
      await this.api.deleteProfile(p.id);
      toast(`Deleted ${p.id}`);
      void this.load(true);
    } catch (e) {
      toast(`Delete failed: ${(e as Error).message}`, "error");
    }
  }

  private uploadControl(): HTMLElement {
    const input = h("input", { type: "file", multiple: true, accept: ".pb,.xplane.pb", hidden: true, "data-testid": "upload-input" });
    const btn = h("button", { class: "btn", "data-testid": "upload-button", title: "Upload .xplane.pb files (one per host) as a new profile" }, "Upload…");
    btn.addEventListener("click", () => input.click());
    input.addEventListener("change", async () => {
      const files = [...(input.files ?? [])];
      if (!files.length) return;
      btn.disabled = true;
      btn.textContent = "Uploading…";
      try {
        const p = await this.api.uploadProfile(files);
        toast(`Uploaded ${p.id}; ingesting`);
        this.router.navigate(profilePath(p.id));
      } catch (e) {
        toast(`Upload failed: ${(e as Error).message}`, "error");
      } finally {
        btn.disabled = false;
        btn.textContent = "Upload…";
        input.value = "";
      }
    });
    return h("span", null, btn, input);
  }
}
