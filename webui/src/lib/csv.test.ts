import { describe, expect, it } from "vitest";
import { csvField, toCsv } from "./csv";

describe("CSV", () => {
  it("quotes commas, quotes and line breaks", () => {
    expect(csvField("a,b")).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField("x\ny")).toBe('"x\ny"');
    expect(csvField(null)).toBe("");
    expect(csvField(NaN)).toBe("");
    expect(csvField(-1.5)).toBe("-1.5");
    expect(csvField(true)).toBe("true");
  });

  it("neutralises spreadsheet formulas in text", () => {
    expect(csvField("=HYPERLINK(1)")).toBe("'=HYPERLINK(1)");
    expect(csvField("-op")).toBe("'-op");
    expect(csvField("@x,y")).toBe(`"'@x,y"`);
  });

  it("writes a header and CRLF rows", () => {
    const out = toCsv([{ header: "name", value: (r: { n: string; v: number }) => r.n }, { header: "v", value: (r) => r.v }], [{ n: "a", v: 1 }, { n: "b", v: 2 }]);
    expect(out).toBe("name,v\r\na,1\r\nb,2\r\n");
  });
});
