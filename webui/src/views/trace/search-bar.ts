// The trace's search: the box with previous/next and "3 of 120", and the list of
// loaded matches. Steps through matches of the whole profile with state/search's
// SearchCursor; what a match does to the view (centre, select, open details) is
// the panel's `onHit`.
//
// Enter = next, Shift+Enter = previous, Escape closes the list and returns to
// the canvas; the list's "Load more" fetches the next page.

import { isAbort } from "../../api/client";
import type { SearchMatch } from "../../api/wire";
import { formatCount, formatEventTimes } from "../../lib/format";
import { SearchCursor, type SearchPager } from "../../state/search";
import { h, replace } from "../dom";
import "./trace-search.css";

export interface SearchActions {
  /** Show a match: centre, select, open its details. */
  onHit: (m: SearchMatch) => void;
  /** The query changed without a match to show (undefined: cleared). */
  onQuery: (q: string | undefined) => void;
  /** Escape in the box: back to the timeline. */
  onEscape: () => void;
  trackName: (id: number) => string | undefined;
}

export class SearchBar {
  private readonly input = h("input", {
    type: "search", class: "input", placeholder: "Search all events  (/)", "aria-label": "Search events in the whole profile",
    "data-testid": "trace-search", spellcheck: "false",
  });
  private readonly status = h("span", { class: "muted search-status", "data-testid": "search-status", "aria-live": "polite" });
  private readonly toggle = h("button", {
    class: "btn small", type: "button", hidden: true, "aria-expanded": "false", "aria-controls": "trace-search-results",
    title: "List the matches", "data-testid": "search-results-toggle", onclick: () => this.showResults(this.results.hidden),
  }, "List ▾");
  /** The match list, placed by the panel over the track names. */
  readonly results = h("div", { class: "search-results", id: "trace-search-results", "data-testid": "search-results", hidden: true });
  /** The search box and its buttons, placed by the panel in the toolbar. */
  readonly form: HTMLFormElement;
  private readonly cursor: SearchCursor;

  constructor(pager: SearchPager, private readonly actions: SearchActions) {
    this.cursor = new SearchCursor(pager);
    this.form = h("form", {
      class: "search", role: "search",
      onsubmit: (e: Event) => {
        e.preventDefault();
        void this.step(1);
      },
    },
      this.input,
      h("button", { class: "btn", type: "button", title: "Previous match (Shift+Enter)", "aria-label": "Previous match", "data-testid": "search-prev", onclick: () => void this.step(-1) }, "↑"),
      h("button", { class: "btn", type: "submit", title: "Next match (Enter)", "aria-label": "Next match", "data-testid": "search-next" }, "↓"),
      this.status,
      this.toggle);
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && e.shiftKey) {
        e.preventDefault();
        void this.step(-1);
      } else if (e.key === "Escape") {
        this.showResults(false);
        this.input.blur();
        this.actions.onEscape();
      }
    });
  }

  /** The query the matches are for. */
  get q(): string {
    return this.cursor.q;
  }

  focus(): void {
    this.input.focus();
    this.input.select();
  }

  /** Next (1) or previous (-1) match of the box's text; a new text starts a new search. */
  async step(dir: 1 | -1): Promise<void> {
    const q = this.input.value.trim();
    try {
      let m: SearchMatch | null;
      if (q !== this.cursor.q) {
        this.status.textContent = "searching…";
        m = await this.cursor.start(q);
        if (!q) {
          this.status.textContent = "";
          this.renderResults();
          this.actions.onQuery(undefined);
          return;
        }
      } else {
        m = dir > 0 ? await this.cursor.next() : this.cursor.prev();
      }
      this.status.textContent = this.cursor.label();
      this.renderResults();
      if (m) this.actions.onHit(m);
      else this.actions.onQuery(q);
    } catch (e) {
      if (isAbort(e)) return;
      this.status.textContent = `search failed: ${(e as Error).message}`;
    }
  }

  /** After a reload with ?q=&sel=: put q in the box, load the matches and find the selected one, without moving. */
  async restore(q: string, sel: number | null): Promise<void> {
    this.input.value = q;
    try {
      await this.cursor.start(q);
      if (sel !== null) {
        const i = this.cursor.matches.findIndex((m) => m.id === sel);
        if (i >= 0) this.cursor.index = i;
      }
      this.status.textContent = this.cursor.label();
      this.renderResults();
    } catch (e) {
      if (!isAbort(e)) this.status.textContent = `search failed: ${(e as Error).message}`;
    }
  }

  private showResults(open: boolean): void {
    this.results.hidden = !open || !this.cursor.matches.length;
    this.toggle.setAttribute("aria-expanded", String(!this.results.hidden));
    if (!this.results.hidden) this.results.querySelector<HTMLElement>("[aria-current=true]")?.scrollIntoView({ block: "nearest" });
  }

  /** The loaded matches: name, named scope (when the server sends one), time, duration, track. */
  private renderResults(): void {
    const ms = this.cursor.matches;
    this.toggle.hidden = !ms.length;
    if (!ms.length) {
      this.showResults(false);
      replace(this.results);
      return;
    }
    const items = ms.map((m, i) => {
      const t = formatEventTimes(m.start_ns, m.dur_ns);
      return h("li", null, h("button", {
        type: "button", class: "search-hit", "data-testid": "search-result", "data-id": m.id,
        "aria-current": i === this.cursor.index ? "true" : null,
        onclick: () => {
          const hit = this.cursor.goTo(i);
          this.status.textContent = this.cursor.label();
          this.renderResults();
          if (hit) this.actions.onHit(hit);
        },
      },
      h("span", { class: "hit-name", title: m.name }, m.name),
      m.scope ? h("span", { class: "hit-scope muted", title: m.scope, "data-testid": "search-result-scope" }, m.scope) : null,
      h("span", { class: "hit-time muted", title: `${formatCount(m.start_ns)} ns from the profile's start` }, `${t.dur} at ${t.start}`),
      h("span", { class: "hit-track muted" }, this.actions.trackName(m.track) ?? `track ${m.track}`)));
    });
    const more = this.cursor.complete ? null : h("button", {
      type: "button", class: "btn small", "data-testid": "search-more",
      onclick: async () => {
        await this.cursor.more();
        this.renderResults();
      },
    }, `Load more (${formatCount(this.cursor.total - ms.length)} left)`);
    replace(this.results,
      h("div", { class: "search-results-head muted small" },
        `${formatCount(ms.length)} of ${formatCount(this.cursor.total)} matches of “${this.cursor.q}”, in time order`,
        h("button", { type: "button", class: "btn icon small", "aria-label": "Close the list", onclick: () => this.showResults(false) }, "✕")),
      h("ol", { class: "search-list" }, ...items),
      more);
    this.showResults(!this.results.hidden);
  }
}
