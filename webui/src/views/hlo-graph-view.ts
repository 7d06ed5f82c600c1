// The HLO graph on the page: mounts the SVG Graphviz laid out
// (render/hlo-graph.ts) and adds wheel zoom and drag pan by rewriting the SVG
// viewBox; a click on a node reports its title. No layout code here.

export interface GraphView {
  fit(): void;
  zoom(factor: number): void;
  destroy(): void;
  readonly svg: SVGSVGElement;
}

export function mountGraph(host: HTMLElement, svgText: string, onNodeClick: (title: string) => void): GraphView {
  host.innerHTML = "";
  const tpl = document.createElement("template");
  tpl.innerHTML = svgText.replace(/^[\s\S]*?(<svg)/, "$1");
  const svg = tpl.content.querySelector("svg") as SVGSVGElement;
  if (!svg) throw new Error("Graphviz returned no SVG");
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  svg.style.width = "100%";
  svg.style.height = "100%";
  svg.setAttribute("data-testid", "hlo-graph-svg");
  host.appendChild(svg);
  const vb0 = svg.viewBox.baseVal;
  const full = { x: vb0.x, y: vb0.y, w: vb0.width || 100, h: vb0.height || 100 };
  let vb = { ...full };
  const apply = () => svg.setAttribute("viewBox", `${vb.x} ${vb.y} ${vb.w} ${vb.h}`);

  const toSvg = (clientX: number, clientY: number) => {
    const r = svg.getBoundingClientRect();
    // preserveAspectRatio xMidYMid meet: one scale, centred.
    const s = Math.max(vb.w / r.width, vb.h / r.height);
    const ox = vb.x - (r.width * s - vb.w) / 2;
    const oy = vb.y - (r.height * s - vb.h) / 2;
    return { x: ox + (clientX - r.left) * s, y: oy + (clientY - r.top) * s, s };
  };
  const zoomAround = (cx: number, cy: number, f: number) => {
    const nw = Math.min(full.w * 8, Math.max(full.w / 50, vb.w * f));
    const ratio = nw / vb.w;
    vb = { x: cx - (cx - vb.x) * ratio, y: cy - (cy - vb.y) * ratio, w: nw, h: vb.h * ratio };
    apply();
  };
  const onWheel = (e: WheelEvent) => {
    e.preventDefault();
    const p = toSvg(e.clientX, e.clientY);
    zoomAround(p.x, p.y, Math.exp(Math.max(-300, Math.min(300, e.deltaY)) * 0.002));
  };
  let drag: { x: number; y: number; vb: typeof vb; moved: boolean } | null = null;
  const onDown = (e: PointerEvent) => {
    drag = { x: e.clientX, y: e.clientY, vb: { ...vb }, moved: false };
    svg.setPointerCapture(e.pointerId);
  };
  const onMove = (e: PointerEvent) => {
    if (!drag) return;
    const { s } = toSvg(e.clientX, e.clientY);
    const dx = (e.clientX - drag.x) * s;
    const dy = (e.clientY - drag.y) * s;
    if (Math.abs(e.clientX - drag.x) + Math.abs(e.clientY - drag.y) > 3) drag.moved = true;
    vb = { ...drag.vb, x: drag.vb.x - dx, y: drag.vb.y - dy };
    apply();
  };
  const onUp = (e: PointerEvent) => {
    const wasClick = drag && !drag.moved;
    drag = null;
    if (!wasClick) return;
    svg.releasePointerCapture(e.pointerId);
    const node = (document.elementFromPoint(e.clientX, e.clientY) as Element | null)?.closest("g.node");
    const title = node?.querySelector("title")?.textContent;
    if (title) onNodeClick(title);
  };
  svg.addEventListener("wheel", onWheel, { passive: false });
  svg.addEventListener("pointerdown", onDown);
  svg.addEventListener("pointermove", onMove);
  svg.addEventListener("pointerup", onUp);
  svg.style.cursor = "grab";
  return {
    svg,
    fit: () => {
      vb = { ...full };
      apply();
    },
    zoom: (f) => zoomAround(vb.x + vb.w / 2, vb.y + vb.h / 2, f),
    destroy: () => {
      svg.removeEventListener("wheel", onWheel);
      host.innerHTML = "";
    },
  };
}
