// Bundles the wallet with esbuild into dist/ (npm run build), or serves it
// with a rebuild on every change (npm run dev, http://127.0.0.1:5173).
// The SDK is taken from this repository's sdk-ts sources; a dApp of your
// own would `npm install @phala-go/sdk` instead.

import * as esbuild from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const options = {
  entryPoints: [join(here, "src", "app.ts")],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify: true,
  sourcemap: true,
  outfile: join(here, "dist", "app.js"),
  alias: { "@phala-go/sdk": join(here, "..", "..", "sdk-ts", "src", "index.ts") },
  logLevel: "warning",
};

mkdirSync(join(here, "dist"), { recursive: true });
copyFileSync(join(here, "src", "index.html"), join(here, "dist", "index.html"));
if (process.argv.includes("--serve")) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
  const port = Number(process.env.PORT ?? 5173);
  await ctx.serve({ servedir: join(here, "dist"), host: "127.0.0.1", port });
  console.log(`wallet: http://127.0.0.1:${port}/  (start \`phala devnet\` first; Ctrl-C to stop)`);
} else {
  await esbuild.build(options);
}
