// The URL follows the window (?t0=&t1=, integer ns) once the view stops moving:
// a wheel zoom or a drag is dozens of windows a second, and each history entry
// costs the router a round of updates.

import type { TimeWindow } from "../../lib/transform";

/** The URL follows the window this long after it stops moving, ms. */
export const URL_DELAY_MS = 250;

export class WindowUrl {
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly window: () => TimeWindow,
    private readonly write: (t0: number, t1: number) => void,
  ) {}

  /** Write the window (as it is then) after URL_DELAY_MS of quiet. */
  schedule(): void {
    this.cancel();
    this.timer = setTimeout(() => {
      this.timer = null;
      const w = this.window();
      this.write(Math.round(w.t0_ns), Math.round(w.t1_ns));
    }, URL_DELAY_MS);
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
