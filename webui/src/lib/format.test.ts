import { describe, expect, it } from "vitest";
import {
  formatAgo, formatBytes, formatBytesPerS, formatCount, formatDateTime, formatDeltaNs, formatDeltaPct, formatEventTimes, formatFlops, formatFlopsPerS,
  formatNs, formatOi, formatPct, formatTime, formatWindow, groupDecimals, timeResolution,
} from "./format";

/** The narrow no-break space between groups of decimals, written as a plain space. */
const plain = (s: string) => s.replace(/\u202f/g, " ");

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

  it("more significant digits on request, signed differences", () => {
    expect(formatNs(1530, 4)).toBe("1.530 µs");
    expect(formatNs(46_324, 4)).toBe("46.32 µs");
    expect(formatDeltaNs(53_000)).toBe("+53.0 µs");
    expect(formatDeltaNs(-2_500_000)).toBe("-2.50 ms");
    expect(formatDeltaNs(0)).toBe("0 ns");
  });
});

describe("positions on the time axis", () => {
  it("group decimals by three", () => {
    expect(groupDecimals("122.00431")).toBe("122.004\u202f31");
    expect(groupDecimals("1.020496200")).toBe("1.020\u202f496\u202f200");
    expect(groupDecimals("12")).toBe("12");
  });

  it("keep every digit the resolution asks for", () => {
    expect(plain(formatTime(122_004_310, 1))).toBe("122.004 310 ms");
    expect(plain(formatTime(122_004_310, 10))).toBe("122.004 31 ms");
    expect(plain(formatTime(122_004_310, 1e6))).toBe("122 ms");
    expect(plain(formatTime(1_020_496_200, 1000))).toBe("1.020 496 s");
    expect(formatTime(0)).toBe("0 ns");
    expect(formatTime(null)).toBe("–");
    expect(timeResolution(1530)).toBe(1);
    expect(timeResolution(2_000_000)).toBe(1000);
    expect(timeResolution(2020, 100)).toBe(10);
  });

  it("tell the start and end of a 1.53 µs op at 122 ms apart", () => {
    const t = formatEventTimes(122_004_310, 1530);
    expect(plain(t.start)).toBe("122.004 310 ms");
    expect(plain(t.end)).toBe("122.005 840 ms");
    expect(t.dur).toBe("1.530 µs");
    expect(t.start).not.toBe(t.end);
    // A long event keeps its ends short.
    const long = formatEventTimes(1_500_000_000, 2_000_000_000);
    expect([long.start, long.end]).toEqual(["1.500 s", "3.500 s"]);
  });

  it("label a 2 µs window 1.02 s in with distinct ends", () => {
    expect(plain(formatWindow(1_020_496_200, 1_020_498_220))).toBe("1.020 496 20 – 1.020 498 22 s (2.02 µs)");
    expect(plain(formatWindow(0, 61_867_001))).toBe("0.0 – 61.9 ms (61.9 ms)");
  });
});
