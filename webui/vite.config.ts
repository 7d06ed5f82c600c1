import { defineConfig } from "vitest/config";

// The Flask app serves dist/index.html for every non-API GET path (history
// routing) and /assets/* statically, so the base is "/" and assets live under
// /assets/. `npm run dev` proxies the API to a running xdiag server.
const server = process.env.XDIAG_SERVER ?? "http://127.0.0.1:8791";

export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    assetsDir: "assets",
    emptyOutDir: true,
    sourcemap: true,
    target: "es2022",
    chunkSizeWarningLimit: 1200,
  },
  server: {
    proxy: {
      "/api": server,
      "/healthz": server,
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
