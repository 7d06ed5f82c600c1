// The folder rules of webui/README.md, checked on the source: data flows one way
// (api -> state -> render / views), render/ draws without knowing the page, and
// lib/ is dependency-free. A change that breaks a rule fails here, not in review.

import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const SRC = dirname(fileURLToPath(import.meta.url));

/** Source files (not tests) of a folder, recursively: [path relative to src/, text]. */
function sources(folder: string): [string, string][] {
  const out: [string, string][] = [];
  const walk = (rel: string) => {
    for (const e of readdirSync(join(SRC, rel), { withFileTypes: true })) {
      const p = `${rel}/${e.name}`;
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(".ts") && !e.name.endsWith(".test.ts")) out.push([p, readFileSync(join(SRC, p), "utf8")]);
    }
  };
  walk(folder);
  return out;
}

/** The module specifiers a file imports (static and dynamic). */
function imports(text: string): string[] {
  return [...text.matchAll(/(?:from\s+|import\s*\(\s*|^import\s+)["']([^"']+)["']/gm)].map((m) => m[1]!);
}

describe("folder rules", () => {
  it("render/ imports neither views/ nor state/, and never touches document", () => {
    const bad = sources("render").flatMap(([p, text]) => [
      ...imports(text).filter((s) => /(^|\/)(views|state)\//.test(s)).map((s) => `${p} imports ${s}`),
      ...(/\bdocument\b/.test(text.replace(/\/\/.*$/gm, "")) ? [`${p} touches document`] : []),
    ]);
    expect(bad).toEqual([]);
  });

  it("lib/ imports only lib/", () => {
    const bad = sources("lib").flatMap(([p, text]) => imports(text).filter((s) => !s.startsWith("./")).map((s) => `${p} imports ${s}`));
    expect(bad).toEqual([]);
  });

  it("state/ and api/ never import render/ or views/", () => {
    const bad = [...sources("state"), ...sources("api")].flatMap(([p, text]) =>
      imports(text).filter((s) => /(^|\/)(render|views)\//.test(s)).map((s) => `${p} imports ${s}`));
    expect(bad).toEqual([]);
  });

  it("finds the files it checks", () => {
    expect(sources("render").map(([p]) => p)).toContain("render/timeline-renderer.ts");
    expect(imports('import { a } from "../views/x";\nconst m = import("./graphviz");')).toEqual(["../views/x", "./graphviz"]);
  });
});
