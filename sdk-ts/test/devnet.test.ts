// The TypeScript SDK against a real devnet, and the lying nodes of the Go
// SDK's attack tests in front of it. internal/tstest's
// TestTypeScriptSDKAgainstADevnet starts both and describes them in
// PHALA_TS_DEVNET; without it these tests skip (run them with go test).

import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import {
  Client, ErrBelowMinHeight, ErrFeeAboveMax, ErrOutsideCluster, ErrProof, ErrStaleAnswer, ErrStaleHeader, ErrTrustMismatch,
  ErrUntrustedHeader, Key, Outcome, WorkerNotTrustedError, clusterId, contract, epochRecord, fromHex, hex, instantiate, isError,
  queryContract, sendContractCommand, trustFromJSON, trustToJSON, uploadCode, utf8, verifyWorker, waitContractKey, waitInit,
  waitResult, type ErrorCode,
} from "./helpers.js";

const envText = process.env.PHALA_TS_DEVNET;
const env = envText ? JSON.parse(envText) : undefined;
const skip = env ? false : "needs a devnet: run `go test ./internal/tstest -run TestTypeScriptSDKAgainstADevnet`";

const text = (b: Uint8Array | null) => new TextDecoder().decode(b ?? new Uint8Array(0));
const sim = { allowSim: true };

async function refused(p: Promise<unknown>, code: ErrorCode, what: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isError(e, code), `${what}: want ${code.space}/${code.code}, got ${String(e)}`);
    return true;
  });
}

test("the TypeScript SDK runs a confidential token on a real devnet", { skip }, async (t) => {
  const c = await Client.dial(env.rpc);
  const alice = Key.fromFile(readFileSync(env.dev_key_file, "utf8"));
  const bob = Key.generate("bob");
  const results: Record<string, unknown> = { bob_seed: hex(bob.seed) };

  await t.test("a transfer is signed with the proven nonce and fee, and its inclusion proven", async () => {
    const before = (await c.account(alice.address)).account;
    const tx = await c.transfer(alice, bob.address, 5_000_000n);
    assert.equal(tx.err, null);
    const after = (await c.account(alice.address)).account;
    assert.equal(after.nonce, before.nonce + 1n);
    assert.equal((await c.account(bob.address)).account.balance, 5_000_000n);
    results.bob_chain_balance = "5000000";
  });

  let id: Uint8Array = new Uint8Array(0);
  let lastHeight = 0;
  await t.test("upload, instantiate, and the init's sealed reply", async () => {
    const code = await uploadCode(c, alice, readFileSync(env.token_wasm));
    const inst = await instantiate(c, alice, code, clusterId("default"), utf8("ts-token"), utf8(`{"supply": 1000000}`), 100_000_000n);
    id = inst.id;
    const init = await waitInit(c, id, inst.secret);
    assert.equal(init.result.outcome, Outcome.ok);
    assert.equal(text(init.reply), `{"balance":1000000}`);
    await waitContractKey(c, id);
    assert.equal((await contract(c, id))?.status, "active");
    results.contract = hex(id);
  });

  await t.test("a sealed command, its result and its opened reply", async () => {
    const sent = await sendContractCommand(c, alice, id, utf8(`{"transfer": {"to": "${bob.addressHex}", "amount": 424242}}`), 100_000_000n);
    assert.equal(sent.index, 0n);
    const r = await waitResult(c, id, sent.index, sent.secret);
    assert.equal(r.result.outcome, Outcome.ok);
    assert.equal(text(r.reply), `{"balance":575758}`);
    lastHeight = sent.tx.height;
    results.last_height = lastHeight;
  });

  await t.test("verifyWorker: the devnet's worker is proven, attested (sim) and refused without allowSim", async () => {
    const rec = await verifyWorker(c, fromHex(env.worker), sim);
    assert.equal(hex(rec.pubkey), env.worker);
    await assert.rejects(verifyWorker(c, fromHex(env.worker)), (e: unknown) => e instanceof WorkerNotTrustedError && e.sim);
  });

  await t.test("encrypted queries: each account reads its own balance, not another's", async () => {
    const q = (k: Key, input: string) => queryContract(c, k, id, utf8(input), { minHeight: lastHeight, verify: sim });
    const b = await q(bob, `{"balance": {}}`);
    assert.equal(b.outcome, Outcome.ok);
    assert.equal(text(b.output), `{"balance":424242}`);
    assert.equal(hex(b.worker), env.worker);
    assert.ok(b.height >= lastHeight);
    assert.equal(text((await q(alice, `{"balance": {}}`)).output), `{"balance":575758}`);
    const spy = await q(bob, `{"balance_of": {"owner": "${alice.addressHex}"}}`);
    assert.equal(spy.outcome, Outcome.error);
    assert.match(text(spy.output), /only to their owner/);
  });

  await t.test("the trust root survives JSON and resumes; answers below it are refused", async () => {
    const saved = trustToJSON(c.trust());
    const resumed = await Client.dial(env.rpc, { trust: trustFromJSON(saved) });
    assert.ok((await resumed.verifiedTip()) >= c.trust().header!.header.height);
    assert.equal(hex(resumed.genesisHash), hex(c.genesisHash));
  });

  writeFileSync(env.out, JSON.stringify(results));
});

test("a lying node fails the Go SDK's attack tests in TypeScript too", { skip }, async (t) => {
  const honest = await Client.dial(env.rpc);
  const alice = Key.fromFile(readFileSync(env.dev_key_file, "utf8"));
  const L = env.liars;
  await honest.account(alice.address); // the client sees the tip once

  await t.test("a node of another chain id is refused", async () => {
    await refused(Client.dial(L.chain), ErrTrustMismatch, "a node claiming another chain");
  });

  await t.test("a chain of the same id with validators of its own proves nothing", async () => {
    const genesisOnly = { ...honest.trust(), header: null, validators: (await honest.rpc.genesis()).validators };
    const c = await Client.dial(env.impostor, { trust: genesisOnly });
    await refused(c.account(alice.address), ErrUntrustedHeader, "the impostor's state");
    await refused(Client.dial(env.impostor, { genesisHash: honest.genesisHash }), ErrTrustMismatch, "the impostor dialed with the real genesis hash");
  });

  await t.test("answers from before the newest verified header are refused", async () => {
    const c = await Client.dial(L.stale, { trust: honest.trust() });
    await refused(c.account(alice.address), ErrStaleAnswer, "an account from an old height");
    await refused(verifyWorker(c, fromHex(env.worker), sim), ErrStaleAnswer, "a worker record from an old height");
    await refused(epochRecord(c), ErrStaleAnswer, "the epoch record from an old height");
    // The node also claims an old tip: a resumed client never goes below its root.
    const resumed = await Client.dial(L.stale_tip, { trust: honest.trust() });
    await refused(resumed.account(alice.address), ErrStaleAnswer, "a resumed client shown an old state");
    // A new client with a minimum height waits for it, and gives up.
    const tip = await honest.verifiedTip();
    await refused(Client.dial(L.stale_tip, { minHeight: tip, signal: AbortSignal.timeout(2000) }), ErrBelowMinHeight, "a client with a minimum height");
    // A new client refuses a tip older than its bound (its clock set just past it).
    const old = await honest.verifiedHeader(env.stale_height + 1);
    const late = Number(old.time.seconds) * 1000 + 10 * 60 * 1000 + 1000;
    await refused(Client.dial(L.stale_tip, { now: () => new Date(late) }), ErrStaleHeader, "a tip older than the bound");
  });

  await t.test("a forged minimum fee is never paid, and a proven one above the maximum is refused", async () => {
    const c = await Client.dial(L.fee);
    await refused(c.transfer(alice, Key.generate("x").address, 1n), ErrProof, "a forged minimum fee");
    const capped = await Client.dial(env.rpc, { maxFee: 999n });
    await refused(capped.transfer(alice, Key.generate("x").address, 1n), ErrFeeAboveMax, "a fee above the maximum");
  });

  await t.test("a forged nonce gets no post-dated transaction signed", async () => {
    const c = await Client.dial(L.nonce);
    await refused(c.transfer(alice, Key.generate("x").address, 1n), ErrProof, "a forged nonce");
  });

  await t.test("a forged governance nonce is refused", async () => {
    const c = await Client.dial(L.gov);
    await refused(c.govNonce(), ErrProof, "a forged governance nonce");
  });

  await t.test("a forged worker key is refused before anything is sealed to it", async () => {
    const c = await Client.dial(L.worker_key);
    await refused(verifyWorker(c, fromHex(env.worker), sim), ErrProof, "a forged encryption key");
  });

  await t.test("a forged contract key is refused before a command is sealed to it", async () => {
    const contractId = fromHex(JSON.parse(readFileSync(env.out, "utf8")).contract);
    const c = await Client.dial(L.contract_key);
    await refused(sendContractCommand(c, alice, contractId, utf8(`{"balance": {}}`), 1_000_000n), ErrProof, "a forged contract key");
  });

  await t.test("a query is never routed outside the contract's cluster", async () => {
    const contractId = fromHex(JSON.parse(readFileSync(env.out, "utf8")).contract);
    const c = await Client.dial(L.cluster);
    await refused(queryContract(c, alice, contractId, utf8("secret input"), { verify: sim }), ErrOutsideCluster, "a worker of no cluster listed as a member");
    await refused(queryContract(c, alice, contractId, utf8("secret input"), { verify: sim, worker: fromHex(env.gatekeeper) }), ErrOutsideCluster, "a worker of no cluster asked by name");
  });
});
