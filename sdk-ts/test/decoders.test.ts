// Every decoder of untrusted bytes in the SDK, fed mutations of real
// inputs (the cross-language vectors' encodings, a query answer, a sim
// quote, a trust root): bytes flipped, cut, inserted, repeated, and, by
// structure, fields dropped, nulled, emptied, made extreme or swapped. An
// input either decodes to a value that re-encodes to exactly it, or is
// refused with the decoder's protocol error: never another exception.
// Seeded, so a run is reproducible; PHALA_FUZZ_ROUNDS runs longer.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  ErrBadTrustRoot, ErrMalformed, ErrNonCanonical, ErrQueryAnswer, PreparedQuery, ProtocolError, WorkerNotTrustedError, decode,
  encode, fromHex, hex, isError, schemas, trustFromJSON, trustToJSON, vectorsPath, verifySimQuote, type Schema, type TrustRoot,
} from "./helpers.js";

const v = JSON.parse(readFileSync(vectorsPath, "utf8"));
const rounds = Number(process.env.PHALA_FUZZ_ROUNDS ?? 300);

function rng(seed: number) {
  let s = seed >>> 0 || 1;
  return (n: number) => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) % n;
  };
}

function mutate(b: Uint8Array, r: (n: number) => number): Uint8Array {
  const a = [...b];
  for (let k = 1 + r(3); k > 0; k--) {
    const i = r(a.length + 1);
    switch (r(6)) {
      case 0: if (a.length) a[i % a.length] ^= 1 << r(8); break;
      case 1: a.splice(i, 0, r(256)); break;
      case 2: a.splice(i, 1 + r(8)); break;
      case 3: a.length = Math.min(a.length, i); break;
      case 4: a.splice(i, 0, ...a.slice(i, i + 1 + r(16))); break;
      case 5: if (a.length) a[i % a.length] = [0x00, 0x17, 0x18, 0x1b, 0x5f, 0x7f, 0x9f, 0xbf, 0xf6, 0xf7, 0xff][r(11)]; break;
    }
  }
  return Uint8Array.from(a);
}

test("canonical CBOR: mutated encodings decode canonically or are refused with tx/1 or tx/2", () => {
  const r = rng(1);
  for (const e of v.encodings) {
    const schema = schemas[e.type] as Schema;
    const good = fromHex(e.cbor);
    for (let i = 0; i < rounds; i++) {
      const m = mutate(good, r);
      try {
        const value = decode(schema, m, e.type);
        assert.equal(hex(encode(schema, value)), hex(m), `${e.type}: a non-canonical encoding was accepted`);
      } catch (err) {
        assert.ok(isError(err, ErrMalformed) || isError(err, ErrNonCanonical), `${e.type}: ${String(err)}`);
      }
    }
  }
});

test("query answers: mutated responses are refused with query/17, never opened", () => {
  const r = rng(2);
  const q = v.queries[0];
  const req = decode<{ query: never }>(schemas.QueryRequest, fromHex(q.request));
  const pq = new PreparedQuery(fromHex(q.request), req.query, fromHex(q.request_hash), fromHex(q.reply_secret));
  const good = fromHex(q.response);
  for (let i = 0; i < rounds * 4; i++) {
    const m = mutate(good, r);
    try {
      const res = pq.open(m);
      assert.equal(hex(res.output), q.reply_output, "a mutated answer opened to another output");
    } catch (err) {
      assert.ok(isError(err, ErrQueryAnswer), String(err));
    }
  }
});

test("sim quotes: mutated quotes are refused as untrusted, never accepted", () => {
  const r = rng(3);
  const good = fromHex(v.sim_quotes[0].quote);
  for (let i = 0; i < rounds * 4; i++) {
    const m = mutate(good, r);
    try {
      verifySimQuote(m);
      assert.equal(hex(m), hex(good), "a mutated sim quote verified");
    } catch (err) {
      assert.ok(err instanceof WorkerNotTrustedError, String(err));
    }
  }
});

test("trust roots: mutated files are refused with sdk/9 or read whole", () => {
  const r = rng(4);
  const root: TrustRoot = {
    chainId: "phala-devnet", genesisHash: new Uint8Array(32).fill(7), genesisTime: { seconds: 1_700_000_000n, nanos: 5 }, header: null,
    validators: [{ address: new Uint8Array(20), pubkey: fromHex(v.signatures[0].public), power: 10n }],
  };
  // The validator's address is its key's: let trustFromJSON compute it.
  const text = trustToJSON(trustFromJSON(trustToJSON(root)));
  const j = JSON.parse(text);
  const extremes = [null, "", 0, -1, 1e300, "zz", [], {}, true, "9".repeat(400)];
  const paths: string[][] = [["chain_id"], ["genesis_hash"], ["genesis_time"], ["genesis_time", "nanos"], ["genesis_time", "seconds"], ["height"], ["signed_header"], ["validators"], ["validators", "0"], ["validators", "0", "pub_key"], ["validators", "0", "power"]];
  for (let i = 0; i < rounds; i++) {
    const m = structuredClone(j);
    const path = paths[r(paths.length)];
    let o = m;
    for (const k of path.slice(0, -1)) o = o[k];
    if (r(4) === 0) delete o[path[path.length - 1]];
    else o[path[path.length - 1]] = extremes[r(extremes.length)];
    for (const input of [JSON.stringify(m), text.slice(0, r(text.length))]) {
      try {
        trustFromJSON(input);
      } catch (err) {
        assert.ok(err instanceof ProtocolError && isError(err, ErrBadTrustRoot), `${JSON.stringify(path)}: ${String(err)}`);
      }
    }
  }
});
