// The performance marks of the trace (webui/README.md, "Performance marks"):
// for every window of data drawn, `xdiag-repaint` runs from the response's
// bytes being in memory (or a cache hit) to the end of the next painted frame,
// with its parts `xdiag-decode`, `xdiag-index` and `xdiag-draw`.

/** Measures kept before they are cleared (a long session must not grow the buffer forever). */
const MAX_MEASURES = 2000;

export class RepaintMarks {
  /** The bytes of a response came in: decode, index and draw are still to come. */
  private fresh = false;
  /** A window of data is waiting for its first frame. */
  private pending = false;

  /** A response's bytes are in memory. */
  bytesIn(): void {
    performance.mark("xdiag-data");
    this.fresh = true;
  }

  /** A window of data is decoded (or came from the cache) and will be drawn next. */
  dataReady(): void {
    if (!this.fresh) performance.mark("xdiag-data"); // served from the cache
    else performance.measure("xdiag-decode", "xdiag-data");
    this.fresh = false;
    this.pending = true;
  }

  /** The data was indexed, from start_ms (performance.now()) until now. */
  indexed(start_ms: number): void {
    performance.measure("xdiag-index", { start: start_ms, end: performance.now() });
  }

  /** A frame was drawn from start_ms for draw_ms; `hasData`: slices were there to draw. */
  drawn(start_ms: number, draw_ms: number, hasData: boolean): void {
    if (!this.pending || !hasData) return;
    this.pending = false;
    if (performance.getEntriesByName("xdiag-repaint").length > MAX_MEASURES) performance.clearMeasures();
    performance.measure("xdiag-draw", { start: start_ms, end: start_ms + draw_ms });
    performance.measure("xdiag-repaint", "xdiag-data");
  }
}
