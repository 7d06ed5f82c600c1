import { describe, expect, it } from "vitest";
import { dotWithMeasurableFonts, findOpLine, findOpUses, graphToDot } from "./hlo";

const TEXT = `HloModule jit_step

ENTRY %main (p0: f32[8]) -> f32[8] {
  %p0 = f32[8]{0} parameter(0)
  %fusion.1 = f32[8]{0} fusion(f32[8]{0} %p0), kind=kLoop
  add.10 = f32[8]{0} add(%fusion.1, %p0)
  ROOT %fusion.12 = f32[8]{0} fusion(add.10), kind=kLoop
}`;

describe("HLO text", () => {
  it("finds definitions with or without % and ROOT", () => {
    expect(findOpLine(TEXT, "fusion.1")).toBe(4);
    expect(findOpLine(TEXT, "%fusion.1")).toBe(4);
    expect(findOpLine(TEXT, "add.10")).toBe(5);
    expect(findOpLine(TEXT, "fusion.12")).toBe(6);
    expect(findOpLine(TEXT, "fusion")).toBe(-1);
    expect(findOpLine(TEXT, "")).toBe(-1);
  });

  it("finds uses, not prefixes of other names", () => {
    expect(findOpUses(TEXT, "fusion.1")).toEqual([5]);
    expect(findOpUses(TEXT, "add.10")).toEqual([6]);
  });
});

describe("graphToDot", () => {
  it("writes nodes, edges and fills the focus op, escaping quotes", () => {
    const dot = graphToDot({
      nodes: [{ id: 1, name: "fusion.1", opcode: "fusion", shape: "f32[8]" }, { id: 2, name: 'we"ird' }],
      edges: [{ source: 1, target: 2 }, { from: 2, to: 1 }, { source: 3 }],
    }, "fusion.1");
    expect(dot).toMatch(/^digraph hlo \{/);
    expect(dot).toContain('"1" [label="fusion.1\\nfusion\\nf32[8]"');
    expect(dot).toContain('fillcolor="#fdd663"');
    expect(dot).toContain('label="we\\"ird"');
    expect(dot).toContain('"1" -> "2";');
    expect(dot).toContain('"2" -> "1";');
    expect(dot.match(/->/g)).toHaveLength(2);
  });
});

describe("dotWithMeasurableFonts", () => {
  it("maps generic families to fonts Graphviz measures, leaving others alone", () => {
    const dot = 'digraph g {\n  node [shape=box, fontname="monospace", fontsize=10];\n  a [fontname=sans-serif];\n  b [fontname="serif"]; c [fontname="Inconsolata"];\n  d [label="fontname=monospace"];\n}';
    const out = dotWithMeasurableFonts(dot);
    expect(out).toContain('node [shape=box, fontname="Courier", fontsize=10]');
    expect(out).toContain('a [fontname="Helvetica"]');
    expect(out).toContain('b [fontname="Times"]');
    expect(out).toContain('c [fontname="Inconsolata"]');
    expect(out).toContain('d [label="fontname=monospace"]');
  });

  it("graphToDot already uses a measurable font", () => {
    const dot = graphToDot({ nodes: [{ id: 1 }], edges: [] }, null);
    expect(dotWithMeasurableFonts(dot)).toBe(dot);
    expect(dot).toContain('fontname="Courier"');
  });
});
