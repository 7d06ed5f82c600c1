// Light/dark theme: follows prefers-color-scheme unless the user picked one
// (kept in localStorage). The resolved theme is set as <html data-theme>.

import { Store } from "./store";

export type ThemePref = "auto" | "light" | "dark";
export type Theme = "light" | "dark";

const KEY = "xdiag-theme";

function readPref(): ThemePref {
  try {
    const v = localStorage.getItem(KEY);
    return v === "light" || v === "dark" ? v : "auto";
  } catch {
    return "auto";
  }
}

export class ThemeController {
  readonly pref = new Store<ThemePref>(readPref());
  readonly theme: Store<Theme>;
  private readonly media = window.matchMedia("(prefers-color-scheme: dark)");

  constructor() {
    this.theme = new Store<Theme>(this.resolve());
    this.media.addEventListener("change", () => this.apply());
    this.pref.subscribe(() => this.apply());
    this.apply();
  }

  private resolve(): Theme {
    const p = this.pref.get();
    if (p !== "auto") return p;
    return this.media.matches ? "dark" : "light";
  }

  private apply(): void {
    const t = this.resolve();
    document.documentElement.dataset.theme = t;
    this.theme.set(t);
  }

  /** auto -> the opposite of what is shown -> auto ... */
  toggle(): void {
    const p = this.pref.get();
    const next: ThemePref = p === "auto" ? (this.theme.get() === "dark" ? "light" : "dark") : "auto";
    try {
      if (next === "auto") localStorage.removeItem(KEY);
      else localStorage.setItem(KEY, next);
    } catch {
      /* private mode: not remembered */
    }
    this.pref.set(next);
  }
}
