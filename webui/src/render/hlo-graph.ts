// HLO neighbourhood graph layout: Graphviz (compiled to WebAssembly, bundled
// and loaded on first use) lays the DOT out as SVG text. Mounting it on the
// page, with zoom and pan, is views/hlo-graph-view.ts.

import { dotWithMeasurableFonts } from "../lib/hlo";

type GraphvizInstance = Awaited<ReturnType<typeof import("./graphviz")["loadGraphvizModule"]>>;
let graphvizPromise: Promise<GraphvizInstance> | null = null;

export function loadGraphviz(): Promise<GraphvizInstance> {
  if (!graphvizPromise) {
    graphvizPromise = import("./graphviz").then((m) => m.loadGraphvizModule());
    graphvizPromise.catch(() => {
      graphvizPromise = null;
    });
  }
  return graphvizPromise;
}

export async function layoutDot(dot: string): Promise<string> {
  const gv = await loadGraphviz();
  return gv.dot(dotWithMeasurableFonts(dot), "svg");
}
