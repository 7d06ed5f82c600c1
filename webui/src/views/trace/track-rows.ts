// Which tracks are shown and where: the collapse state (host, Devices/Threads
// group, track) and the layout computed from it. Pure; the layout's y is
// content_y (render/timeline-layout.ts).

import type { Track } from "../../api/wire";
import { computeLayout, defaultCollapsed, keysToReveal, type TimelineLayout } from "../../render/timeline-layout";

export class TrackRows {
  private readonly byId: Map<number, Track>;
  private readonly collapsed: Set<string>;
  layout: TimelineLayout;

  constructor(readonly tracks: readonly Track[]) {
    this.byId = new Map(tracks.map((t) => [t.id, t]));
    this.collapsed = defaultCollapsed(tracks);
    this.layout = computeLayout(tracks, this.collapsed);
  }

  track(id: number): Track | undefined {
    return this.byId.get(id);
  }

  /**
   * The track a deep link names: the device track of `dev` on `host`, else the
   * host's first device track, else its first track; undefined for an unknown host.
   */
  find(host: string, dev?: number): Track | undefined {
    const on = this.tracks.filter((t) => t.host === host);
    return (dev !== undefined ? on.find((t) => t.group === "device" && t.device === dev) : undefined)
      ?? on.find((t) => t.group === "device") ?? on[0];
  }

  /** Collapse or expand the header or track with this key. */
  toggle(key: string): void {
    if (this.collapsed.has(key)) this.collapsed.delete(key);
    else this.collapsed.add(key);
    this.relayout();
  }

  /** Expand the host and group of a track; true when the layout changed. */
  reveal(trackId: number): boolean {
    const t = this.byId.get(trackId);
    if (!t) return false;
    let changed = false;
    for (const k of keysToReveal(t)) if (this.collapsed.delete(k)) changed = true;
    if (changed) this.relayout();
    return changed;
  }

  private relayout(): void {
    // The old data keeps being drawn (for the tracks still shown) until the
    // response for the new track set arrives.
    this.layout = computeLayout(this.tracks, this.collapsed);
  }
}
