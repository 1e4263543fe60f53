// The client's query path in Node, for the perf record (docs/perf.md):
// seal and sign a request (prepareQuery: X-Wing encapsulation, HPKE seal,
// ed25519 signature), then verify and open a worker's answer
// (PreparedQuery.open: ed25519 verification, HKDF, ChaCha20-Poly1305,
// canonical decoding). The worker's side (decapsulation, sealing and
// signing the answer) runs between the two, untimed. internal/tstest's
// BenchmarkQueryPath runs it next to the Go SDK's path; it prints
// {"ns_per_op", "prepare_ns", "open_ns"}.

import { readFileSync } from "node:fs";
import {
  Key, QueryAnswerSchema, QueryReplySchema, encode, fromHex, hpkeOpenExport, prepareQuery, queryInfo, sealQueryReply, sign,
  SigContext, utf8, vectorsPath, sha256Of, QueryHeaderSchema, schemas, decode, type QueryAnswer,
} from "./helpers.js";

const v = JSON.parse(readFileSync(vectorsPath, "utf8"));
const n = Number(process.argv[2] ?? 200);
const ek = v.hpke[1];
const signer = new Key("signer", fromHex(v.signatures[2].seed));
const worker = new Key("worker", fromHex(v.signatures[1].seed));
const contract = new Uint8Array(32).fill(0xc0);
const input = utf8(`{"balance": {}}`);
const output = encode(QueryReplySchema, { outcome: "ok", reason: "", output: utf8(`{"balance":424243}`), gasUsed: 1234n });

let prepare = 0, open = 0;
for (let i = -20; i < n; i++) { // 20 rounds of warm-up
  const t0 = performance.now();
  const q = await prepareQuery(signer, { chainId: "phala-devnet", contract, worker: worker.publicKey, expiry: 1100, minHeight: 970, gasLimit: 10_000_000n }, fromHex(ek.public_key), input);
  const t1 = performance.now();
  // The worker: open the request, answer it.
  const req = decode<{ ciphertext: Uint8Array }>(schemas.QueryRequest, q.body);
  const { secret } = await hpkeOpenExport(fromHex(ek.private_key), queryInfo("phala-devnet", worker.publicKey), sha256Of(encode(QueryHeaderSchema, q.header)), req.ciphertext);
  const salt = new Uint8Array(32).fill(i & 0xff);
  const answer: QueryAnswer = { chainId: "phala-devnet", contract, worker: worker.publicKey, signer: signer.publicKey, request: q.request, height: 990, salt, reply: sealQueryReply(secret, salt, q.request, output) };
  const raw = encode(schemas.QueryResponse, { answer, sig: sign(worker.seed, SigContext.response, encode(QueryAnswerSchema, answer)) });
  const t2 = performance.now();
  q.open(raw);
  const t3 = performance.now();
  if (i >= 0) {
    prepare += t1 - t0;
    open += t3 - t2;
  }
}
const ns = (ms: number) => Math.round((ms * 1e6) / n);
process.stdout.write(JSON.stringify({ ns_per_op: ns(prepare + open), prepare_ns: ns(prepare), open_ns: ns(open), n }) + "\n");
