import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// The bundle is served by `traza server` from the Python package, with relative asset paths so
// that a --static-prefix works without rebuilding.
export default defineConfig({
  base: "./",
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  build: {
    outDir: fileURLToPath(new URL("../src/traza/server/ui_dist", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    sourcemap: false,
    reportCompressedSize: true,
  },
  server: {
    proxy: {
      "/ajax-api": process.env.TRAZA_UI_DEV_SERVER ?? "http://127.0.0.1:5000",
      "/api": process.env.TRAZA_UI_DEV_SERVER ?? "http://127.0.0.1:5000",
    },
  },
});
