// Stops the daemon global-setup.js started (SIGTERM: an ordered stop) and removes its files.
import { rmSync } from "node:fs";

export default async function teardown() {
  const pid = Number(process.env.E2E_DAEMON_PID);
  if (pid) {
    try {
      process.kill(pid, "SIGTERM");
    } catch {}
    await new Promise((r) => setTimeout(r, 500));
  }
  if (process.env.E2E_DIR) rmSync(process.env.E2E_DIR, { recursive: true, force: true });
}
