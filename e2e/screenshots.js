// Takes the README's screenshots (docs/screenshots/*.png) of each page, desktop and phone,
// against a fresh daemon as the browser tests set it up: `node screenshots.js` after
// `cargo build`.
import { chromium, devices } from "@playwright/test";
import path from "node:path";
import setup from "./global-setup.js";
import teardown from "./global-teardown.js";

const out = path.resolve("../docs/screenshots");
await setup();
const env = process.env;
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
    const order = `58${"3".padStart(17, "0")}`;
    await page.goto(`/ui/orders/${order}`);
    await page.getByLabel("Reason", { exact: true }).fill("address check");
    await page.getByRole("button", { name: "Hold" }).click();
    await page.getByRole("status").waitFor();
    await page.screenshot({ path: `${out}/order-${name}.png`, fullPage: name === "desktop" });
    await page.getByRole("button", { name: "Release" }).click();
    for (const section of ["workflows", "stock", "system", "analytics", "bulk"]) {
      await page.goto(`/ui/${section}`);
      await page.screenshot({ path: `${out}/${section}-${name}.png`, fullPage: name === "desktop" });
    }
    await page.close();
  }
} finally {
  await browser.close();
  await teardown();
}
