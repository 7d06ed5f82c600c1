// HLO text and graph helpers: find an instruction in module text, and turn
// the API's JSON graph into DOT for Graphviz when the server sends no DOT.

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Line index (0-based) where instruction `op` is defined in HLO text, e.g.
 * `  %fusion.3 = f32[8]{0} fusion(...)` or `ROOT add.1 = ...`; -1 if absent.
 */
export function findOpLine(text: string, op: string): number {
  if (!op) return -1;
  const name = op.replace(/^%/, "");
  const re = new RegExp(`^\\s*(?:ROOT\\s+)?%?${escapeRegExp(name)}\\s*=`);
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) if (re.test(lines[i]!)) return i;
  return -1;
}

/** Lines that use `op` as an operand (not its definition). */
export function findOpUses(text: string, op: string): number[] {
  if (!op) return [];
  const name = op.replace(/^%/, "");
  const def = findOpLine(text, op);
  const re = new RegExp(`[(,\\s]%?${escapeRegExp(name)}(?![\\w.-])`);
  const out: number[] = [];
  text.split("\n").forEach((line, i) => {
    if (i === def) return;
    const eq = line.indexOf("=");
    if (eq >= 0 && re.test(line.slice(eq))) out.push(i);
  });
  return out;
}

export interface GraphNodeIn {
  id: string | number;
  name?: string;
  label?: string;
  opcode?: string;
  shape?: string;
  highlight?: boolean;
  [key: string]: unknown;
}

export interface GraphEdgeIn {
  source?: string | number;
  target?: string | number;
  from?: string | number;
  to?: string | number;
  [key: string]: unknown;
}

export function dotString(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n")}"`;
}

/** DOT for the op neighbourhood graph; the focus op is filled. */
export function graphToDot(graph: { nodes: GraphNodeIn[]; edges: GraphEdgeIn[] }, focusOp: string | null): string {
  const lines = [
    "digraph hlo {",
    '  graph [rankdir=TB, nodesep=0.25, ranksep=0.35, bgcolor="transparent"];',
    '  node [shape=box, style="rounded,filled", fillcolor="#eef2f7", color="#8894a6", fontname="Courier", fontsize=10];',
    '  edge [color="#8894a6", arrowsize=0.6];',
  ];
  for (const n of graph.nodes) {
    const name = String(n.name ?? n.label ?? n.id);
    const parts = [name];
    if (n.opcode && n.opcode !== name) parts.push(String(n.opcode));
    if (n.shape) parts.push(String(n.shape));
    const focus = n.highlight === true || (focusOp !== null && name.replace(/^%/, "") === focusOp.replace(/^%/, ""));
    const attrs = [`label=${dotString(parts.join("\n"))}`, `id=${dotString(`node-${name}`)}`, `tooltip=${dotString(name)}`];
    if (focus) attrs.push('fillcolor="#fdd663"', 'color="#b06000"', "penwidth=2");
    lines.push(`  ${dotString(String(n.id))} [${attrs.join(", ")}];`);
  }
  for (const e of graph.edges) {
    const s = e.source ?? e.from;
    const t = e.target ?? e.to;
    if (s === undefined || t === undefined) continue;
    lines.push(`  ${dotString(String(s))} -> ${dotString(String(t))};`);
  }
  lines.push("}");
  return lines.join("\n");
}

/** Generic CSS families -> the fonts Graphviz has built-in metrics for. */
const MEASURABLE_FONT: Record<string, string> = {
  monospace: "Courier",
  "sans-serif": "Helvetica",
  sans: "Helvetica",
  serif: "Times",
};

/**
 * Graphviz compiled to WebAssembly has no font files: it sizes labels with
 * built-in width tables for Times, Courier and Helvetica/Arial only, and
 * measures any other name (e.g. "monospace") as Times. The browser then draws
 * such a label in its real monospace face, much wider than the box laid out
 * for it. Map generic families to the PostScript fonts Graphviz measures;
 * browsers resolve those to metric-compatible faces (Courier -> Liberation
 * Mono / Courier New, Helvetica -> Liberation Sans / Arial).
 */
export function dotWithMeasurableFonts(dot: string): string {
  return dot.replace(/(?<=[[,;\s])fontname\s*=\s*"?(monospace|sans-serif|sans|serif)"?(?=[\s,;\]])/gi,
    (_m, f: string) => `fontname="${MEASURABLE_FONT[f.toLowerCase()]}"`);
}
