// A sortable table: click (or Enter on) a header to sort by it, again to flip.

import { h, replace } from "./dom";

export interface Column<T> {
  key: string;
  label: string;
  /** Sort value; omit for an unsortable column. */
  sort?: (row: T) => number | string | null;
  render: (row: T) => Node | string;
  numeric?: boolean;
  title?: string;
}

export interface SortableTable<T> {
  el: HTMLTableElement;
  setRows(rows: T[]): void;
  rows(): T[];
}

export function sortRows<T>(rows: readonly T[], col: Column<T> | undefined, desc: boolean): T[] {
  if (!col?.sort) return [...rows];
  const f = col.sort;
  return [...rows].sort((a, b) => {
    const va = f(a);
    const vb = f(b);
    if (va === vb) return 0;
    if (va === null) return 1;
    if (vb === null) return -1;
    const c = typeof va === "number" && typeof vb === "number" ? va - vb : String(va).localeCompare(String(vb));
    return desc ? -c : c;
  });
}

export function sortableTable<T>(
  columns: Column<T>[],
  opts: { sortKey: string; desc?: boolean; rowAttrs?: (row: T) => Record<string, unknown>; testid?: string; caption?: string },
): SortableTable<T> {
  let sortKey = opts.sortKey;
  let desc = opts.desc ?? true;
  let data: T[] = [];
  let sorted: T[] = [];
  const thead = h("thead");
  const tbody = h("tbody");
  const table = h("table", { class: "table", "data-testid": opts.testid }, opts.caption ? h("caption", null, opts.caption) : null, thead, tbody);

  const renderHead = () => {
    replace(thead, h("tr", null, ...columns.map((c) => {
      const active = c.key === sortKey;
      const th = h("th", {
        class: c.numeric ? "num" : null, title: c.title ?? null, scope: "col",
        "aria-sort": active ? (desc ? "descending" : "ascending") : c.sort ? "none" : null,
      });
      if (c.sort) {
        th.appendChild(h("button", {
          class: "th-sort", type: "button",
          onclick: () => {
            if (sortKey === c.key) desc = !desc;
            else {
              sortKey = c.key;
              desc = !!c.numeric;
            }
            render();
          },
        }, c.label, active ? (desc ? " ▾" : " ▴") : ""));
      } else th.textContent = c.label;
      return th;
    })));
  };
  const renderBody = () => {
    sorted = sortRows(data, columns.find((c) => c.key === sortKey), desc);
    replace(tbody, ...sorted.map((r) => h("tr", opts.rowAttrs ? opts.rowAttrs(r) : null,
      ...columns.map((c) => h("td", { class: c.numeric ? "num" : null }, c.render(r))))));
  };
  const render = () => {
    renderHead();
    renderBody();
  };
  render();
  return {
    el: table,
    setRows: (rows) => {
      data = rows;
      renderBody();
    },
    rows: () => sorted,
  };
}
