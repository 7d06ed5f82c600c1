// Vertical layout of the timeline: hosts -> (host tracks, Devices, Threads)
// -> tracks -> one row per nesting depth. Pure: tracks + collapse state in,
// rows with content-space y (px from the top of the first row) out.

import type { Track } from "../api/wire";

export const AXIS_H = 28;
export const GUTTER_W = 220;
export const HOST_H = 24;
export const GROUP_H = 20;
export const ROW_H = 18;
export const TRACK_PAD = 3;

export type LayoutKind = "host" | "group" | "track";

export interface LayoutItem {
  kind: LayoutKind;
  /** Collapse key: "h:<host>", "g:<host>:<group>", "t:<id>". */
  key: string;
  host: string;
  label: string;
  y: number;
  h: number;
  indent: number;
  collapsible: boolean;
  collapsed: boolean;
  track?: Track;
  /** Depth rows drawn for a track (1 when collapsed). */
  rows?: number;
}

export interface TimelineLayout {
  items: LayoutItem[];
  totalHeight: number;
  /** Track id -> its item (only tracks whose slices are drawn). */
  tracks: Map<number, LayoutItem>;
}

export const hostKey = (host: string) => `h:${host}`;
export const groupKey = (host: string, group: string) => `g:${host}:${group}`;
export const trackKey = (id: number) => `t:${id}`;

const GROUP_LABEL: Record<string, string> = { device: "Devices", thread: "Threads" };

/** Collapse keys to start with: thread groups of hosts that also have many device/thread tracks. */
export function defaultCollapsed(tracks: readonly Track[]): Set<string> {
  const out = new Set<string>();
  const byHost = new Map<string, Track[]>();
  for (const t of tracks) byHost.set(t.host, [...(byHost.get(t.host) ?? []), t]);
  for (const [host, ts] of byHost) {
    const devices = ts.filter((t) => t.group === "device").length;
    const threads = ts.filter((t) => t.group === "thread").length;
    if (devices > 0 && threads > 8) out.add(groupKey(host, "thread"));
  }
  return out;
}

export function computeLayout(tracks: readonly Track[], collapsed: ReadonlySet<string>): TimelineLayout {
  const items: LayoutItem[] = [];
  const trackItems = new Map<number, LayoutItem>();
  let y = 0;
  const hosts: string[] = [];
  const byHost = new Map<string, Track[]>();
  for (const t of tracks) {
    if (!byHost.has(t.host)) {
      hosts.push(t.host);
      byHost.set(t.host, []);
    }
    byHost.get(t.host)!.push(t);
  }
  const addTrack = (t: Track, indent: number) => {
    const c = collapsed.has(trackKey(t.id));
    const rows = c ? 1 : t.max_depth + 1;
    const item: LayoutItem = {
      kind: "track", key: trackKey(t.id), host: t.host, label: t.name, y, h: rows * ROW_H + 2 * TRACK_PAD,
      indent, collapsible: t.max_depth > 0, collapsed: c, track: t, rows,
    };
    items.push(item);
    trackItems.set(t.id, item);
    y += item.h;
  };
  for (const host of hosts) {
    const ts = byHost.get(host)!;
    const hc = collapsed.has(hostKey(host));
    items.push({ kind: "host", key: hostKey(host), host, label: host, y, h: HOST_H, indent: 0, collapsible: true, collapsed: hc });
    y += HOST_H;
    if (hc) continue;
    for (const t of ts) if (t.group === "host") addTrack(t, 1);
    for (const group of ["device", "thread"] as const) {
      const gs = ts.filter((t) => t.group === group);
      if (!gs.length) continue;
      const gk = groupKey(host, group);
      const gc = collapsed.has(gk);
      items.push({
        kind: "group", key: gk, host, label: `${GROUP_LABEL[group]} (${gs.length})`, y, h: GROUP_H, indent: 1,
        collapsible: true, collapsed: gc,
      });
      y += GROUP_H;
      if (gc) continue;
      for (const t of gs) addTrack(t, 2);
    }
  }
  return { items, totalHeight: y, tracks: trackItems };
}

/** Ids of the tracks whose slices are drawn (to request from the API). */
export function visibleTrackIds(layout: TimelineLayout): number[] {
  return [...layout.tracks.keys()].sort((a, b) => a - b);
}

/** The item at content-space y, or null. */
export function itemAt(layout: TimelineLayout, y: number): LayoutItem | null {
  const items = layout.items;
  let lo = 0;
  let hi = items.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const it = items[mid]!;
    if (y < it.y) hi = mid - 1;
    else if (y >= it.y + it.h) lo = mid + 1;
    else return it;
  }
  return null;
}

/** Which depth row of a track item a content-space y falls into, or -1. */
export function depthAt(item: LayoutItem, y: number): number {
  if (item.kind !== "track" || item.rows === undefined) return -1;
  const d = Math.floor((y - item.y - TRACK_PAD) / ROW_H);
  return d >= 0 && d < item.rows ? d : -1;
}

/** Keys to expand so that a track becomes visible. */
export function keysToReveal(t: Track): string[] {
  return [hostKey(t.host), groupKey(t.host, t.group)];
}
