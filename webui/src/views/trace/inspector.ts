// Hover and selection: the tooltip that follows the pointer over a slice, and
// the selected slice with its details panel (GET events/<id>). Owns the two
// ids the renderer highlights; the panel tells it what moved.

import type { EventDetails, Track } from "../../api/wire";
import { formatEventTimes } from "../../lib/format";
import type { TimelineIndex } from "../../render/timeline-index";
import type { TimelineLayout } from "../../render/timeline-layout";
import { h, replace } from "../dom";
import type { PanelContext } from "../panel";
import { DetailsPanel } from "./details-panel";

/** The tooltip's lines for slice i: name, "duration at start", and where it is drawn. */
export function tipLines(index: TimelineIndex, i: number, layout: TimelineLayout): { name: string; time: string; where: string | null } {
  const d = index.data;
  const track = layout.tracks.get(d.track[i]!)?.track;
  const t = formatEventTimes(d.start[i]!, d.dur[i]!);
  return {
    name: index.name(i),
    time: `${t.dur} at ${t.start}`,
    where: track ? `${track.host} · ${track.name} · ${track.lanes ? "lane" : "row"} ${d.depth[i]! + 1}` : null,
  };
}

/** Screen x of a tooltip tw px wide next to the pointer at x, flipped left near the right edge. */
export function tipLeft(x: number, tw: number, canvasW: number): number {
  const left = x + 14 + tw > canvasW ? x - tw - 10 : x + 14;
  return Math.max(0, left);
}

export class Inspector {
  readonly tip = h("div", { class: "tooltip", "data-testid": "timeline-tooltip", hidden: true, role: "tooltip" });
  readonly details: DetailsPanel;
  /** The hovered slice: an index into the loaded data, -1 for none. */
  hoverIndex = -1;
  /** The selected event's id (the URL's sel), or null. */
  selectedId: number | null = null;

  constructor(ctx: PanelContext, actions: { onClose: () => void; onZoom: (d: EventDetails) => void; track: (id: number) => Track | undefined }) {
    this.details = new DetailsPanel(ctx, actions);
  }

  /** Hover slice i (-1: none); true when that changed what is highlighted. */
  hover(i: number): boolean {
    if (i === this.hoverIndex) return false;
    this.hoverIndex = i;
    return true;
  }

  /** Show the tooltip for slice i at screen (x, y), or hide it when i < 0. */
  showTip(i: number, x: number, y: number, index: TimelineIndex | null, layout: TimelineLayout, canvasW: number): void {
    if (i < 0 || !index) {
      this.tip.hidden = true;
      return;
    }
    const l = tipLines(index, i, layout);
    replace(this.tip, h("strong", null, l.name), h("div", null, l.time), l.where ? h("div", { class: "muted" }, l.where) : null);
    this.tip.hidden = false;
    this.tip.style.transform = `translate(${tipLeft(x, this.tip.offsetWidth, canvasW)}px, ${y + 14}px)`;
  }

  hideTip(): void {
    this.tip.hidden = true;
  }

  /** The view moved or the data changed: what was under the pointer no longer is. */
  clearHover(): void {
    this.hoverIndex = -1;
    this.tip.hidden = true;
  }

  /** Select an event (null: none) and open or close its details. */
  select(id: number | null): void {
    this.selectedId = id;
    if (id === null) this.details.hide();
    else void this.details.show(id);
  }

  /** The selected event's details once loaded (for F: fit the selection). */
  get selectedDetails(): EventDetails | null {
    return this.details.details;
  }
}
