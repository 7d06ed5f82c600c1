import { describe, expect, it } from "vitest";
import {
  formatAgo, formatBytes, formatBytesPerS, formatCount, formatDateTime, formatDeltaPct, formatFlops, formatFlopsPerS, formatNs, formatOi, formatPct,
} from "./format";

describe("formatting", () => {
  it("durations", () => {
    expect(formatNs(0)).toBe("0 ns");
    expect(formatNs(999)).toBe("999 ns");
    expect(formatNs(1500)).toBe("1.50 µs");
    expect(formatNs(25_300_000)).toBe("25.3 ms");
    expect(formatNs(2_000_000_000)).toBe("2.00 s");
    expect(formatNs(1_200e9)).toBe("20.0 min");
    expect(formatNs(null)).toBe("–");
    expect(formatNs(NaN)).toBe("–");
  });

  it("bytes in binary units, rates in decimal units", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.50 KiB");
    expect(formatBytes(3 * 1024 ** 3)).toBe("3.00 GiB");
    expect(formatBytesPerS(1.2e12)).toBe("1.20 TB/s");
    expect(formatFlopsPerS(275e12)).toBe("275 TFLOP/s");
    expect(formatFlops(3.5e9)).toBe("3.50 GFLOP");
    expect(formatFlopsPerS(12)).toBe("12.0 FLOP/s");
    expect(formatOi(0.25)).toBe("0.25 FLOP/B");
  });

  it("shares, deltas and counts", () => {
    expect(formatPct(0.1234)).toBe("12.3%");
    expect(formatPct(0.00001)).toBe("<0.1%");
    expect(formatPct(0)).toBe("0.0%");
    expect(formatDeltaPct(5)).toBe("+5.0%");
    expect(formatDeltaPct(-2.25)).toBe("-2.3%");
    expect(formatCount(5_123_456)).toBe("5,123,456");
  });

  it("times", () => {
    expect(formatAgo(100, 105_000)).toBe("5 s ago");
    expect(formatAgo(0, 7_200_000)).toBe("2 h ago");
    expect(formatDateTime(null)).toBe("–");
    expect(formatDateTime("not a date")).toBe("not a date");
    expect(formatDateTime(0)).toMatch(/^19(69|70)-/);
  });
});
