// Stops the daemon and the sandbox global-setup.js started (SIGTERM: an ordered stop) and removes its files.
import { rmSync } from "node:fs";

export default async function teardown() {
  for (const pid of [process.env.E2E_DAEMON_PID, process.env.E2E_SANDBOX_PID].map(Number)) {
    try {
      if (pid) process.kill(pid, "SIGTERM");
    } catch {}
  }
  await new Promise((r) => setTimeout(r, 500));
  if (process.env.E2E_DIR) rmSync(process.env.E2E_DIR, { recursive: true, force: true });
}
