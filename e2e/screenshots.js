// Takes the README's screenshots (docs/screenshots/*.png) of each page, desktop and phone,
// against a fresh daemon as the browser tests set it up: `node screenshots.js` after
// `cargo build`.
import { chromium, devices } from "@playwright/test";
import path from "node:path";
import { sandboxDo } from "./daemon.js";
import setup from "./global-setup.js";
import teardown from "./global-teardown.js";

const out = path.resolve("../docs/screenshots");
await setup();
const env = process.env;
// Orders TikTok (the sandbox) knows in full in shop C: items, money, a workflow run that
// reserves stock, buys a label and ships; one SKU runs short and waits in the dead letters.
const admin = { authorization: `Bearer ${env.E2E_ADMIN_KEY}`, "content-type": "application/json" };
for (const [sku, on_hand] of [["1729382256910270000", 40], ["1729382256910270001", 3]]) {
  await fetch(`${env.E2E_BASE_URL}/api/v1/inventory/${env.E2E_SHOP_C}/${sku}`, {
    method: "PUT", headers: admin, body: JSON.stringify({ on_hand, low_stock_threshold: 5 }),
  });
}
const shown = [];
for (let i = 0; i < 8; i++) {
  shown.push((await sandboxDo("/sandbox/orders", { shop_id: env.E2E_SHOP_C, units: 1 + (i % 3) })).order_id);
}
await new Promise((r) => setTimeout(r, 8000)); // runs reserve, buy labels, ship; some dead-letter
// A new order whose buyer asks TikTok to cancel it before it ships: the "Buyer requests" tab,
// the order page's alert with Approve and Reject (TikTok's reasons to choose from), and its
// packing slip held back.
const { order_id: asking } = await sandboxDo("/sandbox/orders", { shop_id: env.E2E_SHOP_C, units: 1 });
await sandboxDo("/sandbox/requests", { order_id: asking, kind: "cancellation" });
await new Promise((r) => setTimeout(r, 3000));
const browser = await chromium.launch({ executablePath: env.CHROMIUM || "/usr/bin/chromium" });
try {
  const { defaultBrowserType, ...pixel } = devices["Pixel 7"];
  for (const [name, options] of [["desktop", { viewport: { width: 1280, height: 800 } }], ["phone", pixel]]) {
    const page = await browser.newPage({ ...options, baseURL: env.E2E_BASE_URL });
    await page.goto("/ui/sign-in");
    await page.screenshot({ path: `${out}/sign-in-${name}.png` });
    await page.getByLabel("API key").fill(env.E2E_ADMIN_KEY);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Orders" }).waitFor();
    await page.screenshot({ path: `${out}/orders-${name}.png` });
    await page.goto(`/ui/orders/${shown[0]}`);
    await page.screenshot({ path: `${out}/order-${name}.png`, fullPage: name === "desktop" });
    await page.goto(`/ui/orders/${asking}`);
    await page.screenshot({ path: `${out}/buyer-request-${name}.png` });
    for (const section of ["workflows", "stock", "system", "analytics", "bulk"]) {
      await page.goto(`/ui/${section}`);
      await page.screenshot({ path: `${out}/${section}-${name}.png`, fullPage: name === "desktop" });
    }
    await page.goto(`/ui/packing-slips?ids=${[...shown.slice(0, 2), asking].join(",")}`);
    await page.screenshot({ path: `${out}/packing-slips-${name}.png`, fullPage: name === "desktop" });
    await page.close();
  }
} finally {
  await browser.close();
  await teardown();
}
