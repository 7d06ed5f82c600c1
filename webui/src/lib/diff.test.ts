import { describe, expect, it } from "vitest";
import { baselineFirst, deltaClass } from "./diff";

describe("diff rules", () => {
  it("B slower is red, B faster is green, no change is neither", () => {
    expect(deltaClass(53_000)).toBe("worse");
    expect(deltaClass(53.0)).toBe("worse");
    expect(deltaClass(-34.6)).toBe("better");
    expect(deltaClass(0)).toBe("");
    expect(deltaClass(null)).toBe("");
    expect(deltaClass(NaN)).toBe("");
  });

  it("the older profile is the baseline whichever was picked first", () => {
    const older = { id: "run~old", created_at: 1000 };
    const newer = { id: "run~new", created_at: 2000 };
    expect(baselineFirst(newer, older).map((p) => p.id)).toEqual(["run~old", "run~new"]);
    expect(baselineFirst(older, newer).map((p) => p.id)).toEqual(["run~old", "run~new"]);
  });
});
