// The timeline's colours come from the page's CSS custom properties (the theme):
// read here, in views/, so the renderer gets plain strings and never sees the DOM.

import type { TimelineColors } from "../../render/timeline-renderer";

/** Colours for the renderer from an element's computed style, with defaults per theme. */
export function readTimelineColors(el: Element, dark: boolean): TimelineColors {
  const cs = getComputedStyle(el);
  const v = (name: string, fallback: string) => cs.getPropertyValue(name).trim() || fallback;
  return {
    bg: v("--tl-bg", dark ? "#15171c" : "#ffffff"),
    fg: v("--fg", dark ? "#e6e8ec" : "#1d2330"),
    muted: v("--muted", dark ? "#9aa3b2" : "#5d6778"),
    grid: v("--tl-grid", dark ? "#2a2e37" : "#e5e8ee"),
    gutter: v("--tl-gutter", dark ? "#1b1e25" : "#f7f8fa"),
    axis: v("--tl-axis", dark ? "#1b1e25" : "#f7f8fa"),
    hostBg: v("--tl-host", dark ? "#232733" : "#e9edf4"),
    groupBg: v("--tl-group", dark ? "#1e2129" : "#f1f3f7"),
    accent: v("--accent", dark ? "#7cacf8" : "#1a73e8"),
    stepBand: v("--tl-step", dark ? "rgba(255,255,255,0.025)" : "rgba(26,115,232,0.04)"),
    sliceText: v("--tl-slice-text", dark ? "#ffffff" : "#111111"),
    dark,
  };
}
