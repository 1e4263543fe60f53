// Shared by the TypeScript tests: the SDK's surface, the vectors' path and
// the conversion of the vectors' JSON form into typed values.

import { sha256 } from "@noble/hashes/sha2.js";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { camel, type Schema } from "../src/cbor.js";
import { fromHex } from "../src/bytes.js";
import { QuerySignedSchema } from "../src/types.js";

export * from "../src/index.js";

/** vectorsPath is protocol/testdata/vectors.json, from dist/test/. */
export const vectorsPath = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "protocol", "testdata", "vectors.json");

export const querySigned = QuerySignedSchema;

export function sha256Of(b: Uint8Array): Uint8Array {
  return sha256(b);
}

/**
 * camelValue turns a value in the vectors' JSON form (wire names, hex
 * bytes, uint64 as decimal strings) into the SDK's typed value.
 */
export function camelValue(schema: Schema, j: unknown): unknown {
  switch (schema) {
    case "u64":
      return BigInt(j as string);
    case "u32":
    case "i64":
      return j as number;
    case "bytes":
    case "addr":
    case "raw":
      return fromHex(j as string);
    case "text":
    case "bool":
      return j;
    case "origin": {
      const [kind, id] = j as [number, string];
      return { kind, id: fromHex(id) };
    }
  }
  if ("struct" in schema) {
    const o = j as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const [wire, fs] of schema.struct) out[camel(wire)] = camelValue(fs, o[wire]);
    return out;
  }
  if ("array" in schema) return (j as unknown[]).map((x) => camelValue(schema.array, x));
  if ("nullable" in schema) return j === null ? null : camelValue(schema.nullable, j);
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(j as Record<string, unknown>)) out[k] = camelValue(schema.map, x);
  return out;
}
