// Writes to stdout what TypeScript seals, signs and encodes from the
// cross-language vectors' keys, for Go to open and check
// (internal/tstest's TestGoOpensWhatTypeScriptSealed): the direction of
// the vectors that Go cannot generate itself.

import { readFileSync } from "node:fs";
import {
  Key, encode, fromHex, hex, hpkeSealExport, newCall, prepareQuery, sealReply, schemas, sign, SigContext, utf8, vectorsPath,
} from "./helpers.js";

const v = JSON.parse(readFileSync(vectorsPath, "utf8"));
const out: Record<string, unknown> = {};

out.hpke = await Promise.all(
  v.hpke.map(async (h: Record<string, string>, i: number) => {
    const plaintext = utf8(`sealed in TypeScript #${i}`);
    const { sealed, secret } = await hpkeSealExport(fromHex(h.public_key), fromHex(h.info), fromHex(h.aad), plaintext);
    return { vector: i, plaintext: hex(plaintext), sealed: hex(sealed), secret: hex(secret) };
  }),
);

const alice = new Key("alice", fromHex(v.signatures[0].seed));
const bob = new Key("bob", fromHex(v.signatures[1].seed));
const call = newCall("accounts", "transfer", encode(schemas.TransferArgs, { to: bob.address, amount: (1n << 63n) + 7n }));
const body = encode(schemas.Tx, { chainId: "phala-devnet", signer: alice.publicKey, nonce: 9n, fee: 1000n, call });
out.tx = hex(encode(schemas.SignedTx, { body, sig: sign(alice.seed, SigContext.tx, body) }));

const ek = v.hpke[1];
const q = await prepareQuery(bob, { chainId: "phala-devnet", contract: new Uint8Array(32).fill(0xc0), worker: alice.publicKey, expiry: 1100, minHeight: 970, gasLimit: 10_000_000n }, fromHex(ek.public_key), utf8(`{"balance": {}}`));
out.query = { request: hex(q.body), request_hash: hex(q.request), ek_vector: 1, input: hex(utf8(`{"balance": {}}`)) };

const secret = new Uint8Array(32).fill(0x21);
const aad = utf8("phala/contract-reply/v1/aa/command/5");
out.reply = { secret: hex(secret), aad: hex(aad), plaintext: hex(utf8("a reply")), sealed: hex(sealReply(secret, aad, utf8("a reply"))) };

process.stdout.write(JSON.stringify(out));
