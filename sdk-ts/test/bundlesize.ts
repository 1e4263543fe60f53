// The SDK's size in a browser, for the perf record (docs/perf.md): the
// whole of src/index.ts bundled by esbuild for browsers, minified, and
// gzipped at level 9. A dApp that imports less is smaller (the bundle is
// tree-shaken). Prints {"minified", "gzipped"} in bytes.

import * as esbuild from "esbuild";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const out = await esbuild.build({
  entryPoints: [join(root, "src", "index.ts")], bundle: true, format: "esm", platform: "browser", target: "es2022",
  minify: true, write: false, logLevel: "error",
});
const code = out.outputFiles[0].contents;
process.stdout.write(JSON.stringify({ minified: code.length, gzipped: gzipSync(code, { level: 9 }).length }) + "\n");
