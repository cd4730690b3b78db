// The dashboard in Debian's Chromium (never a downloaded browser), against a daemon that
// global-setup.js builds a fresh database for and starts.
import { defineConfig } from "@playwright/test";

export default defineConfig({
  testDir: "tests",
  globalSetup: "./global-setup.js",
  globalTeardown: "./global-teardown.js",
  // Two cores: one browser at a time keeps timings honest.
  workers: 1,
  timeout: 60_000,
  reporter: [["list"]],
  use: {
    baseURL: process.env.E2E_BASE_URL,
    browserName: "chromium",
    launchOptions: { executablePath: process.env.CHROMIUM || "/usr/bin/chromium" },
    trace: "off",
  },
});
