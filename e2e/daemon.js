// The daemon under test: its binary, the database and settings it runs with, and the signed
// webhooks a test sends it as TikTok would.
import { createHmac } from "node:crypto";
import { execFileSync } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const binary = process.env.CREATORFLOW_BIN || path.join(root, "target/debug/creatorflow");
/** A port nothing listens on now (the system's choice), so runs side by side never meet. */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

// Chosen once, by the run's main process; its test workers inherit it.
process.env.E2E_PORT ||= String(await freePort());
process.env.E2E_SANDBOX_PORT ||= String(await freePort());
export const port = Number(process.env.E2E_PORT);
export const base = `http://127.0.0.1:${port}`;
/** TikTok Shop's stand-in (`creatorflow sandbox`), with its label API. */
export const sandbox = `http://127.0.0.1:${process.env.E2E_SANDBOX_PORT}`;
const APP_KEY = "e2e_app_key";
const APP_SECRET = "e2e_app_secret";

/** The environment the daemon and its CLI run with, on the database in `dir`. */
export function environment(dir) {
  return {
    ...process.env,
    CREATORFLOW__DATABASE__URL: `sqlite://${dir}/e2e.db?mode=rwc`,
    CREATORFLOW__HTTP__LISTEN: `127.0.0.1:${port}`,
    CREATORFLOW__TIKTOK__APP_KEY: APP_KEY,
    CREATORFLOW__TIKTOK__APP_SECRET: APP_SECRET,
    // TikTok is the sandbox: it knows the shop authorised through it (global-setup.js), not
    // the shops added without an auth code, whose orders stay as their webhooks left them.
    CREATORFLOW__TIKTOK__API_BASE_URL: sandbox,
    CREATORFLOW__TIKTOK__AUTH_BASE_URL: sandbox,
    CREATORFLOW__SHIPPING__LABEL_API_URL: `${sandbox}/labels/v1`,
    CREATORFLOW__SHIPPING__LABEL_API_KEY: "sandbox-label-key",
    // A SKU without a stock record is refused, not taken as always available: the dead-letter
    // test relies on it.
    CREATORFLOW__INVENTORY__REQUIRE_TRACKING: "true",
    RUST_LOG: process.env.E2E_RUST_LOG || "error",
  };
}

/** Asks the sandbox to do something (`/sandbox/shops`, `/sandbox/orders`); its JSON answer. */
export async function sandboxDo(path, params) {
  const response = await fetch(`${sandbox}${path}?${new URLSearchParams(params)}`, { method: "POST" });
  if (!response.ok) throw new Error(`sandbox ${path}: ${response.status} ${await response.text()}`);
  return response.json();
}

/** Runs the CLI; its standard output, trimmed. */
export function cli(dir, ...args) {
  return execFileSync(binary, args, { env: environment(dir) }).toString().trim();
}

let notification = Date.now();

/** Sends TikTok's ORDER_STATUS_CHANGE for `order` of `shop`, signed; the answer's status. */
export async function statusWebhook(shop, order, status) {
  const now = Math.floor(Date.now() / 1000);
  return signedWebhook({
    type: 1,
    tts_notification_id: String(notification++),
    shop_id: shop,
    timestamp: now,
    data: { order_id: order, order_status: status, update_time: now },
  });
}

// Posts `notification` as TikTok does, signed with the app's secret; the answer's status.
export async function signedWebhook(notification) {
  const body = JSON.stringify(notification);
  const signature = createHmac("sha256", APP_SECRET).update(APP_KEY + body).digest("hex");
  const response = await fetch(`${base}/webhooks/tiktok`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: signature },
    body,
  });
  return response.status;
}
