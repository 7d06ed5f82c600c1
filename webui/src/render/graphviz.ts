// Graphviz compiled to WebAssembly (bundled; the wasm is inlined in the JS).
// Imported dynamically by hlo-graph.ts so it loads only when the HLO tab opens.
import { Graphviz } from "@hpcc-js/wasm-graphviz";

export function loadGraphvizModule() {
  return Graphviz.load();
}
