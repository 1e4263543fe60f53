// Canonical CBOR (RFC 8949 core deterministic encoding), as Go's protocol
// package writes and accepts it, over cborg.
//
// Each protocol type has a schema. Encoding follows it: struct fields are
// map entries keyed by their wire names (sorted bytewise by cborg), uint64
// values are bigints, byte strings are Uint8Arrays, nil is null. Decoding
// is strict and total: cborg refuses indefinite lengths, non-minimal
// integers, duplicate keys, undefined, NaN and tags; the schema refuses
// unknown and missing fields and wrong types; and the value must re-encode
// to exactly the bytes read (the canonical-form check Go's Unmarshal
// makes), so every value has exactly one accepted encoding.

import { decode as cborDecode, encode as cborEncode, rfc8949EncodeOptions } from "cborg";
import { ErrMalformed, ErrNonCanonical, ProtocolError, type ErrorCode } from "./errors.js";
import { bytesEqual } from "./bytes.js";

/** A field's schema. */
export type Schema =
  | "u64" // uint64, as bigint
  | "u32" // uint8..uint32, as number
  | "i64" // int64, as a safe-integer number
  | "bytes" // byte string (nil and empty alike), as Uint8Array
  | "addr" // 20-byte account address
  | "text"
  | "bool"
  | "raw" // a canonical CBOR item kept encoded (Go's RawCBOR), as Uint8Array
  | "origin" // [kind, id]
  | { struct: StructSchema; extensible?: boolean }
  | { array: Schema }
  | { nullable: Schema }
  | { map: Schema };

/**
 * extra holds the fields of an extensible struct that its schema does not
 * name (fields a newer chain added): they are kept as read and written
 * back, so the canonical-form check still covers them.
 */
export const extra = Symbol("extra fields");

/** A struct's fields: wire name, schema, and whether it is omitted when empty (Go's omitempty). */
export type StructSchema = readonly (readonly [wire: string, schema: Schema, omitEmpty?: boolean])[];

const MAX_DEPTH = 16;

/** camel turns a wire name (chain_id) into its property name (chainId). */
export function camel(wire: string): string {
  return wire.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** encode returns the canonical encoding of value under schema. */
export function encode(schema: Schema, value: unknown): Uint8Array {
  return cborEncode(toWire(schema, value, 0), rfc8949EncodeOptions);
}

/**
 * decode reads data under schema, accepting only its canonical encoding.
 * A failure is ErrMalformed or ErrNonCanonical (or `as`, with the detail
 * naming what was read, when given).
 */
export function decode<T>(schema: Schema, data: Uint8Array, what = "value", as?: ErrorCode): T {
  let raw: unknown;
  try {
    raw = cborDecode(data, {
      strict: true,
      allowIndefinite: false,
      allowUndefined: false,
      allowInfinity: false,
      allowNaN: false,
      rejectDuplicateMapKeys: true,
      useMaps: false,
      allowBigInt: true,
    });
  } catch (e) {
    throw new ProtocolError(as ?? ErrMalformed, `${what}: ${(e as Error).message}`, { cause: e });
  }
  let value: unknown;
  try {
    value = fromWire(schema, raw, 0);
  } catch (e) {
    throw new ProtocolError(as ?? ErrMalformed, `${what}: ${(e as Error).message}`, { cause: e });
  }
  if (!bytesEqual(encode(schema, value), data)) {
    throw new ProtocolError(as ?? ErrNonCanonical, `encoding of ${what} is not canonical`);
  }
  return value as T;
}

function isEmpty(schema: Schema, v: unknown): boolean {
  switch (schema) {
    case "bool":
      return v === false;
    case "u64":
      return v === 0n;
    case "u32":
    case "i64":
      return v === 0;
    case "text":
      return v === "";
  }
  return false;
}

function toWire(schema: Schema, v: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new Error("value nested too deeply");
  switch (schema) {
    case "u64":
      if (typeof v !== "bigint" || v < 0n || v >= 1n << 64n) throw new TypeError(`uint64 expected, got ${String(v)}`);
      return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
    case "u32":
      if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new TypeError(`uint32 expected, got ${String(v)}`);
      return v;
    case "i64":
      if (typeof v !== "number" || !Number.isSafeInteger(v)) throw new TypeError(`int64 expected, got ${String(v)}`);
      return v;
    case "bytes":
    case "raw":
    case "addr":
      if (v === null || v === undefined) v = new Uint8Array(0);
      if (!(v instanceof Uint8Array)) throw new TypeError("bytes expected");
      if (schema === "addr" && v.length !== 20) throw new TypeError(`address of ${v.length} bytes`);
      return schema === "raw" ? decodeRaw(v) : v;
    case "text":
      if (typeof v !== "string") throw new TypeError("text expected");
      return v;
    case "bool":
      if (typeof v !== "boolean") throw new TypeError("bool expected");
      return v;
    case "origin": {
      const o = v as { kind: number; id: Uint8Array };
      return [toWire("u32", o.kind, depth + 1), toWire("bytes", o.id, depth + 1)];
    }
  }
  if ("struct" in schema) {
    const obj = v as Record<string, unknown>;
    const out: Record<string, unknown> = { ...((obj as Record<symbol, Record<string, unknown>>)[extra] ?? {}) };
    for (const [wire, fs, omit] of schema.struct) {
      const fv = obj[camel(wire)];
      if (omit && isEmpty(fs, fv)) continue;
      out[wire] = toWire(fs, fv, depth + 1);
    }
    return out;
  }
  if ("array" in schema) {
    if (v === null || v === undefined) return [];
    if (!Array.isArray(v)) throw new TypeError("array expected");
    return v.map((x) => toWire(schema.array, x, depth + 1));
  }
  if ("nullable" in schema) return v === null || v === undefined ? null : toWire(schema.nullable, v, depth + 1);
  const m = v as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(m ?? {})) out[k] = toWire(schema.map, m[k], depth + 1);
  return out;
}

// decodeRaw turns an embedded canonical item back into the value cborg
// re-encodes to the same bytes.
function decodeRaw(b: Uint8Array): unknown {
  if (b.length === 0) return null; // Go encodes an empty RawCBOR as null
  return cborDecode(b, { strict: true, allowIndefinite: false, allowUndefined: false, rejectDuplicateMapKeys: true, allowBigInt: true });
}

function fromWire(schema: Schema, v: unknown, depth: number): unknown {
  if (depth > MAX_DEPTH) throw new Error("value nested too deeply");
  switch (schema) {
    case "u64":
      if (typeof v === "number" && Number.isInteger(v) && v >= 0) return BigInt(v);
      if (typeof v === "bigint" && v >= 0n && v < 1n << 64n) return v;
      throw new TypeError(`want an unsigned integer, got ${typeof v}`);
    case "u32":
      if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return v;
      throw new TypeError(`want a uint32, got ${typeof v}`);
    case "i64":
      if (typeof v === "number" && Number.isSafeInteger(v)) return v;
      throw new TypeError(`want an integer within ±2^53, got ${typeof v}`);
    case "bytes":
    case "addr":
      if (!(v instanceof Uint8Array)) throw new TypeError(`want a byte string, got ${typeof v}`);
      if (schema === "addr" && v.length !== 20) throw new TypeError(`address of ${v.length} bytes, want 20`);
      return v;
    case "raw":
      return cborEncode(v, rfc8949EncodeOptions);
    case "text":
      if (typeof v !== "string") throw new TypeError(`want text, got ${typeof v}`);
      return v;
    case "bool":
      if (typeof v !== "boolean") throw new TypeError(`want a bool, got ${typeof v}`);
      return v;
    case "origin":
      if (!Array.isArray(v) || v.length !== 2) throw new TypeError("want an origin [kind, id]");
      return { kind: fromWire("u32", v[0], depth + 1), id: fromWire("bytes", v[1], depth + 1) };
  }
  if ("struct" in schema) {
    if (v === null || typeof v !== "object" || Array.isArray(v) || v instanceof Uint8Array) throw new TypeError("want a map");
    const obj = v as Record<string, unknown>;
    const names = new Set(schema.struct.map(([w]) => w));
    const out: Record<string | symbol, unknown> = {};
    for (const k of Object.keys(obj)) {
      if (names.has(k)) continue;
      if (!schema.extensible) throw new TypeError(`unknown field ${JSON.stringify(k)}`);
      ((out[extra] ??= {}) as Record<string, unknown>)[k] = obj[k];
    }
    for (const [wire, fs, omit] of schema.struct) {
      if (!(wire in obj)) {
        if (!omit) throw new TypeError(`missing field ${JSON.stringify(wire)}`);
        out[camel(wire)] = fs === "bool" ? false : fs === "u64" ? 0n : fs === "text" ? "" : 0;
        continue;
      }
      try {
        out[camel(wire)] = fromWire(fs, obj[wire], depth + 1);
      } catch (e) {
        throw new TypeError(`${wire}: ${(e as Error).message}`);
      }
    }
    return out;
  }
  if ("array" in schema) {
    if (!Array.isArray(v)) throw new TypeError("want an array");
    return v.map((x) => fromWire(schema.array, x, depth + 1));
  }
  if ("nullable" in schema) return v === null ? null : fromWire(schema.nullable, v, depth + 1);
  if (v === null || typeof v !== "object" || Array.isArray(v) || v instanceof Uint8Array) throw new TypeError("want a map");
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = fromWire(schema.map, x, depth + 1);
  return out;
}
