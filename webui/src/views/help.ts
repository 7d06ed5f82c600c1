// The "?" overlay listing keyboard shortcuts and mouse gestures.

import { h } from "./dom";

const SHORTCUTS: [string, string][] = [
  ["?", "Show or hide this help"],
  ["1 – 6", "Overview, Trace, Op profile, Roofline, Memory, HLO tab"],
  ["← / → on a focused tab", "Previous / next tab"],
  ["g p, g j", "Go to profiles, jobs"],
  ["Esc", "Close a panel, dialog or this help; clear the selection"],
];

const TRACE: [string, string][] = [
  ["W / S", "Zoom in / out (hold), around the mouse"],
  ["A / D", "Pan left / right (hold)"],
  ["← / →", "Pan by a fifth of the view"],
  ["↑ / ↓, PgUp / PgDn", "Scroll the tracks"],
  ["Wheel", "Zoom around the cursor"],
  ["Shift + wheel, horizontal swipe", "Pan"],
  ["Wheel over track names, Alt + wheel", "Scroll the tracks"],
  ["Drag", "Pan in time and scroll"],
  ["Click", "Select a slice (details on the right); click a host, group or track name to collapse it"],
  ["Double-click", "Zoom to a slice"],
  ["Click a step on the axis", "Zoom to that step"],
  ["F", "Zoom to the selected slice"],
  ["0", "Show the whole profile"],
  ["/", "Search all events"],
  ["Enter / Shift+Enter, n / N", "Next / previous match"],
];

function table(title: string, rows: [string, string][]): HTMLElement {
  return h("section", null, h("h3", null, title),
    h("table", { class: "kv" }, h("tbody", null, ...rows.map(([k, v]) => h("tr", null, h("th", null, h("kbd", null, k)), h("td", null, v))))));
}

export function helpOverlay(): { el: HTMLElement; toggle(): void; close(): void } {
  const closeBtn = h("button", { class: "btn icon", "aria-label": "Close help" }, "✕");
  const box = h("div", { class: "overlay-box", role: "dialog", "aria-modal": "true", "aria-label": "Keyboard shortcuts" },
    h("div", { class: "details-head" }, h("h2", null, "Keyboard and mouse"), closeBtn),
    h("div", { class: "help-cols" }, table("Everywhere", SHORTCUTS), table("Trace timeline", TRACE)));
  const el = h("div", { class: "overlay", hidden: true, "data-testid": "help-overlay" }, box);
  let lastFocus: Element | null = null;
  const close = () => {
    if (el.hidden) return;
    el.hidden = true;
    (lastFocus as HTMLElement | null)?.focus?.();
  };
  const toggle = () => {
    if (el.hidden) {
      lastFocus = document.activeElement;
      el.hidden = false;
      closeBtn.focus();
    } else close();
  };
  closeBtn.addEventListener("click", close);
  el.addEventListener("click", (e) => {
    if (e.target === el) close();
  });
  return { el, toggle, close };
}
