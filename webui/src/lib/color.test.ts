import { describe, expect, it } from "vitest";
import { colorKey, hashString, paletteIndex, PALETTE_DARK, PALETTE_LIGHT, PALETTE_SIZE } from "./color";

describe("slice colours", () => {
  it("are stable and shared by instances of one op kind", () => {
    expect(hashString("abc")).toBe(hashString("abc"));
    expect(colorKey("fusion.12")).toBe("fusion");
    expect(colorKey("%all-reduce.3")).toBe("all-reduce");
    expect(paletteIndex("fusion.1")).toBe(paletteIndex("fusion.99"));
    expect(paletteIndex("x")).toBeLessThan(PALETTE_SIZE);
    expect(PALETTE_LIGHT).toHaveLength(PALETTE_SIZE);
    expect(PALETTE_DARK).toHaveLength(PALETTE_SIZE);
  });
});
