// Clicks through the wallet in headless Chromium (Debian's, driven by
// puppeteer-core: no browser is downloaded) against a devnet with the
// token contract deployed, as a user would: import the funded key, verify
// the worker, read the balance, create a second key, send it tokens, read
// both balances, and check that the second account cannot read the
// first's. internal/tstest's TestDAppInARealBrowser runs it; it prints a
// JSON summary on its last line.
//
// Environment: WALLET_URL (the page, with ?rpc=...&contract=...), CHROMIUM
// (the browser), DEV_KEY_FILE (a funded key file of `phala keys`),
// WORKER (the devnet worker's identity key, hex), PROFILE (an empty
// directory), SCREENSHOT (optional: where to save the final page).

import { readFileSync } from "node:fs";
import puppeteer from "puppeteer-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const browser = await puppeteer.launch({
  executablePath: env("CHROMIUM"),
  headless: true,
  userDataDir: env("PROFILE"),
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const summary = {};
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(90_000);
  page.on("console", (m) => m.type() === "error" && console.error("page:", m.text()));
  page.on("pageerror", (e) => console.error("page error:", e.message));
  await page.goto(env("WALLET_URL"), { waitUntil: "load" });

  const textOf = (id) => page.$eval(`#${id}`, (e) => e.textContent ?? "");
  // until clicks a button and waits for an output to settle on something other than "working…".
  const until = async (button, out, re) => {
    await page.click(`#${button}`);
    await page.waitForFunction((id) => { const t = document.getElementById(id).textContent; return t !== "working…" && t !== ""; }, {}, out);
    const t = await textOf(out);
    if (!re.test(t)) throw new Error(`#${out} after #${button}: ${JSON.stringify(t)} does not match ${re}`);
    console.log(`#${button} → ${t.split("\n")[0]}`);
    return t;
  };
  const type = async (id, value) => {
    await page.$eval(`#${id}`, (e) => { e.value = ""; });
    await page.type(`#${id}`, value);
  };
  const balance = async () => {
    await until("balance-btn", "balance-info", /^answered by worker/);
    return Number(await textOf("balance"));
  };

  await until("connect", "status", /^chain phala-devnet, genesis [0-9a-f]{16}…, verified tip \d+/);

  // The funded account: a key file of `phala keys`, pasted.
  await type("import-text", readFileSync(env("DEV_KEY_FILE"), "utf8"));
  await page.click("#import-key");
  const alice = (await textOf("address")).replace(/^address /, "");
  if (!/^[0-9a-f]{40}$/.test(alice)) throw new Error(`import: ${alice}`);

  // Without the box ticked, the sim worker is refused; with it, verified and shown.
  await until("verify-worker", "worker", /insecure sim TEE/);
  await page.click("#allow-sim");
  const w = await until("verify-worker", "worker", /^verified ✓ worker [0-9a-f]{64}/);
  if (!w.includes(env("WORKER")) || !w.includes("TEE sim")) throw new Error(`verified another worker: ${w}`);

  summary.alice_before = await balance();

  // A second account, created in the page.
  await page.click("#create-key");
  const bob = (await textOf("address")).replace(/^address /, "");
  if (!/^[0-9a-f]{40}$/.test(bob) || bob === alice) throw new Error(`create: ${bob}`);

  // Back to the first: send the second 250 tokens as a sealed command.
  await page.select("#keys", alice);
  await type("to", bob);
  await type("amount", "250");
  const sent = await until("send", "transfer-result", /^ok: command \d+ in block \d+; your balance is now \d+$/);
  summary.alice_after_reply = Number(sent.match(/now (\d+)$/)[1]);
  summary.alice_after = await balance();

  await page.select("#keys", bob);
  summary.bob = await balance();
  await type("balance-of-addr", alice);
  summary.bob_reads_alice = await until("balance-of-btn", "balance-of", /./);

  summary.alice = alice;
  summary.bob_key_file = await page.evaluate((addr) => JSON.parse(localStorage.getItem("phala-wallet/keys")).find((f) => JSON.parse(f).address === addr), bob);
  if (process.env.SCREENSHOT) await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(summary));
