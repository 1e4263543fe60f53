// A private-token wallet for the example token contract
// (examples/contracts/token), in the browser, through @phala-go/sdk:
//
//   - the node is believed only through proofs: the trust root is pinned
//     at first use and kept in this browser's storage, so a later visit
//     refuses another chain or an older state;
//   - the worker that answers queries is verified (proven registration,
//     attestation, cluster membership) before anything is sealed to it;
//   - balances are encrypted, signed queries; transfers are sealed
//     commands whose results this page waits for and opens.

import {
  Client, Key, WorkerNotTrustedError, codeOf, fromHex, hex, parseAddress, queryContract, queryWorker, sendContractCommand,
  trustFromJSON, trustToJSON, utf8, waitContractKey, waitResult, type WorkerRecord,
} from "@phala-go/sdk";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);
const text = (b: Uint8Array | null) => new TextDecoder().decode(b ?? new Uint8Array(0));

const KEYS = "phala-wallet/keys";
const trustKey = (rpc: string) => `phala-wallet/trust/${rpc}`;

let client: Client | undefined;
let contractId: Uint8Array | undefined;
let worker: WorkerRecord | undefined;
// The height of this session's last command: queries ask for a state that includes it.
let minHeight = 0;

function keys(): Key[] {
  const files = JSON.parse(localStorage.getItem(KEYS) ?? "[]") as string[];
  return files.map((f) => Key.fromFile(f));
}

function saveKeys(all: Key[]): void {
  localStorage.setItem(KEYS, JSON.stringify(all.map((k) => k.toFile())));
}

function current(): Key {
  const addr = $<HTMLSelectElement>("keys").value;
  const k = keys().find((x) => x.addressHex === addr);
  if (!k) throw new Error("create or import a key first");
  return k;
}

function showKeys(select?: string): void {
  const sel = $<HTMLSelectElement>("keys");
  const all = keys();
  sel.innerHTML = "";
  for (const k of all) {
    const o = document.createElement("option");
    o.value = k.addressHex;
    o.textContent = `${k.name}  ${k.addressHex}`;
    sel.append(o);
  }
  if (select) sel.value = select;
  $("address").textContent = sel.value ? `address ${sel.value}` : "no key";
  $("balance").textContent = "–";
  $("balance-info").textContent = "";
  $("balance-of").textContent = "";
}

function saveTrust(): void {
  if (client) localStorage.setItem(trustKey(input("rpc").value), trustToJSON(client.trust()));
}

/** describe renders an error with its protocol code, as a user should see it. */
function describe(e: unknown): string {
  const pe = codeOf(e);
  const msg = (e as Error).message ?? String(e);
  return pe ? `refused (${pe.space}/${pe.code}): ${msg}` : `error: ${msg}`;
}

/** action runs a button's work, showing progress and errors in out. */
function action(button: string, out: string, f: () => Promise<string>): void {
  $(button).addEventListener("click", async () => {
    const o = $(out);
    o.textContent = "working…";
    $<HTMLButtonElement>(button).disabled = true;
    try {
      o.textContent = await f();
      saveTrust();
    } catch (e) {
      o.textContent = describe(e);
      console.error(e);
    } finally {
      $<HTMLButtonElement>(button).disabled = false;
    }
  });
}

function connected(): Client {
  if (!client || !contractId) throw new Error("connect first");
  return client;
}

const verifyOptions = () => ({ allowSim: input("allow-sim").checked });

action("connect", "status", async () => {
  const rpc = input("rpc").value.trim();
  contractId = fromHex(input("contract").value.trim());
  const saved = localStorage.getItem(trustKey(rpc));
  client = await Client.dial(rpc, saved ? { trust: trustFromJSON(saved) } : {});
  worker = undefined;
  await waitContractKey(client, contractId, AbortSignal.timeout(30_000));
  const tip = await client.verifiedTip();
  return `chain ${client.chainId}, genesis ${hex(client.genesisHash).slice(0, 16)}…, verified tip ${tip}` +
    (saved ? " (trust root from an earlier visit)" : " (trust root pinned now: compare the genesis hash with the chain's)");
});

$("create-key").addEventListener("click", () => {
  const all = keys();
  const k = Key.generate(`key${all.length + 1}`);
  saveKeys([...all, k]);
  showKeys(k.addressHex);
});

$("import-key").addEventListener("click", () => {
  try {
    const k = Key.fromFile($<HTMLTextAreaElement>("import-text").value);
    saveKeys([...keys().filter((x) => x.addressHex !== k.addressHex), k]);
    $<HTMLTextAreaElement>("import-text").value = "";
    showKeys(k.addressHex);
  } catch (e) {
    $("address").textContent = describe(e);
  }
});

$("keys").addEventListener("change", () => showKeys($<HTMLSelectElement>("keys").value));

action("verify-worker", "worker", async () => {
  const c = connected();
  try {
    worker = await queryWorker(c, contractId!, { verify: verifyOptions() });
  } catch (e) {
    const sim = (e as { cause?: unknown }).cause instanceof WorkerNotTrustedError && ((e as { cause: WorkerNotTrustedError }).cause.sim);
    throw sim ? new Error("the worker runs on the insecure sim TEE: tick the box above on a development chain", { cause: e }) : e;
  }
  const insecure = worker.attestationKind === "sim" ? " — INSECURE sim TEE, development only" : "";
  return `verified ✓ worker ${hex(worker.pubkey)}\n  TEE ${worker.attestationKind} (level ${worker.attestationLevel})${insecure}\n` +
    `  measurement ${hex(worker.measurement)}\n  endpoint ${worker.endpoint}, member of the contract's cluster (proven)`;
});

async function balanceQuery(k: Key, input: string) {
  const c = connected();
  return queryContract(c, k, contractId!, utf8(input), { minHeight, verify: verifyOptions(), worker: worker?.pubkey });
}

action("balance-btn", "balance-info", async () => {
  const r = await balanceQuery(current(), `{"balance": {}}`);
  if (r.outcome !== "ok") throw new Error(`${r.outcome}: ${text(r.output)}`);
  const { balance } = JSON.parse(text(r.output)) as { balance: number };
  $("balance").textContent = String(balance);
  return `answered by worker ${hex(r.worker).slice(0, 16)}… at block ${r.height}, signed and sealed to this key`;
});

action("balance-of-btn", "balance-of", async () => {
  const owner = parseAddress(input("balance-of-addr").value.trim());
  const r = await balanceQuery(current(), JSON.stringify({ balance_of: { owner: hex(owner) } }));
  return r.outcome === "ok" ? `balance ${JSON.parse(text(r.output)).balance}` : `refused by the contract: ${text(r.output)}`;
});

action("send", "transfer-result", async () => {
  const c = connected();
  const k = current();
  const to = parseAddress(input("to").value.trim());
  const amount = Number(input("amount").value);
  if (!Number.isSafeInteger(amount) || amount <= 0) throw new Error("the amount must be a positive integer");
  const cmd = JSON.stringify({ transfer: { to: hex(to), amount } });
  const sent = await sendContractCommand(c, k, contractId!, utf8(cmd), 100_000_000n);
  const r = await waitResult(c, contractId!, sent.index, sent.secret, AbortSignal.timeout(60_000));
  minHeight = Math.max(minHeight, sent.tx.height);
  if (r.result.outcome !== "ok") return `command ${sent.index} in block ${sent.tx.height}: ${r.result.outcome} ${text(r.reply)}`;
  const { balance } = JSON.parse(text(r.reply)) as { balance: number };
  $("balance").textContent = String(balance);
  return `ok: command ${sent.index} in block ${sent.tx.height}; your balance is now ${balance}`;
});

const params = new URLSearchParams(location.search);
input("rpc").value = params.get("rpc") ?? "http://127.0.0.1:26657";
input("contract").value = params.get("contract") ?? "";
showKeys(keys()[0]?.addressHex);
