import { spawn } from 'node:child_process';
import { openSync, readFileSync, existsSync } from 'node:fs';

/**
 * Starts a long-lived process inside a namespace that outlives this CLI call (detached, output to a
 * log file). Returns its PID, which `down` uses to end it.
 */
export function spawnDetached(netns: string, argv: readonly string[], logFile: string, env: Record<string, string> = {}): number {
  const fd = openSync(logFile, 'a');
  const child = spawn('ip', ['netns', 'exec', netns, ...argv], { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${argv.join(' ')}`);
  return child.pid;
}

export async function waitForFile(path: string, re: RegExp, timeoutMs: number, what: string): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (existsSync(path) && re.test(readFileSync(path, 'utf8'))) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${path})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
