// A fresh database with an admin key, two shops with a key each and orders in both; then the
// daemon, serving until global-teardown.js stops it.
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { base, binary, cli, environment, sandbox, sandboxDo, signedWebhook, statusWebhook } from "./daemon.js";

export const SHOP_A = "7400000000000000001";
export const SHOP_B = "7400000000000000002";
/** A shop authorised through the sandbox: its orders get details, workflows, stock. */
export const SHOP_C = "7400000000000000003";

/** Waits until `ready()` answers true; an error it throws ends the wait at once. */
async function until(what, ready) {
  for (let i = 0; ; i++) {
    let answer;
    try {
      answer = await ready();
    } catch (e) {
      if (!(e instanceof TypeError)) throw e; // a refused connection: not listening yet
    }
    if (answer) return;
    if (i > 100) throw new Error(`${what} did not get ready`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export default async function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), "creatorflow-e2e-"));
  const stand_in = spawn(
    binary,
    ["sandbox", "--listen", new URL(sandbox).host, "--shops", "0", "--orders-per-second", "0", "--webhook-url", `${base}/webhooks/tiktok`],
    { env: environment(dir), stdio: ["ignore", "ignore", "inherit"] },
  );
  writeFileSync(path.join(dir, "sandbox-pid"), String(stand_in.pid));
  process.env.E2E_SANDBOX_PID = String(stand_in.pid);
  await until("the sandbox", async () => (await fetch(`${sandbox}/sandbox/`, { method: "POST" })).status === 404);
  const { auth_code } = await sandboxDo("/sandbox/shops", { id: SHOP_C, name: "Live Drop" });
  const admin = cli(dir, "apikey", "create", "--admin", "--name", "e2e-admin");
  cli(dir, "shop", "add", "--tiktok-shop-id", SHOP_A, "--name", "Glow Studio");
  cli(dir, "shop", "add", "--tiktok-shop-id", SHOP_B, "--name", "Other Shop");
  cli(dir, "shop", "add", "--tiktok-shop-id", SHOP_C, "--name", "Live Drop", "--auth-code", auth_code);
  const shopA = cli(dir, "apikey", "create", "--shop", SHOP_A, "--name", "glow-ops");
  const shopB = cli(dir, "apikey", "create", "--shop", SHOP_B, "--name", "other-ops");
  const daemon = spawn(binary, ["serve"], { env: environment(dir), stdio: "inherit", detached: false });
  let exited = null;
  daemon.on("exit", (code) => (exited = code));
  writeFileSync(path.join(dir, "pid"), String(daemon.pid));
  await until("the daemon", async () => {
    // Our daemon, not another one on the port: it must still be running.
    if (exited !== null) throw new Error(`the daemon exited (${exited}) before it was ready`);
    return (await fetch(`${base}/readyz`)).ok;
  });
  // Orders as TikTok's webhooks bring them: 60 in shop A, 5 in shop B, and 200 more in shop A
  // for the bulk test (ids 57…).
  const orders = [];
  for (let i = 1; i <= 200; i++) orders.push([SHOP_A, `57${String(i).padStart(17, "0")}`]);
  for (let i = 1; i <= 60; i++) orders.push([SHOP_A, `58${String(i).padStart(17, "0")}`]);
  for (let i = 1; i <= 5; i++) orders.push([SHOP_B, `59${String(i).padStart(17, "0")}`]);
  for (const [shop, order] of orders) {
    const status = await statusWebhook(shop, order, "AWAITING_SHIPMENT");
    if (status !== 200) throw new Error(`webhook for ${order}: ${status}`);
  }
  // Two webhooks the system page lists in quarantine: one without its order id (answered 400)
  // and one of a type this build does not handle (200).
  const now = Math.floor(Date.now() / 1000);
  const unreadable = await signedWebhook({ type: 1, shop_id: SHOP_A, timestamp: now, data: { order_status: "AWAITING_SHIPMENT", update_time: now } });
  const unhandled = await signedWebhook({ type: 16, tts_notification_id: "e2e-16", shop_id: SHOP_A, timestamp: now, data: { product_id: "1729382256910270001" } });
  if (unreadable !== 400 || unhandled !== 200) throw new Error(`kept webhooks answered ${unreadable} and ${unhandled}`);
  Object.assign(process.env, {
    E2E_BASE_URL: base,
    E2E_DIR: dir,
    E2E_ADMIN_KEY: admin,
    E2E_SHOP_A: SHOP_A,
    E2E_SHOP_B: SHOP_B,
    E2E_SHOP_C: SHOP_C,
    E2E_SHOP_A_KEY: shopA,
    E2E_SHOP_B_KEY: shopB,
  });
  process.env.E2E_DAEMON_PID = String(daemon.pid);
}
