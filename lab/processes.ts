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

/** Whether the process runs (a zombie waiting to be reaped does not). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return processState(pid) !== 'Z';
}

/** /proc/PID/stat from its third field on (state, ppid, ...): the command name before it may hold spaces. */
function statFields(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

function processState(pid: number): string | undefined {
  return statFields(pid)?.[0];
}

/** A process's identity: its PID and its start time (clock ticks since boot), as PIDs are reused. */
export interface ProcessIdentity {
  readonly pid: number;
  readonly start: string;
}

function startTicks(pid: number): string | undefined {
  return statFields(pid)?.[19];
}

export function identify(pid: number): ProcessIdentity | undefined {
  const start = startTicks(pid);
  return start === undefined ? undefined : { pid, start };
}

/** Whether that very process still runs (not another one that got its PID since). */
export function stillRunning(p: ProcessIdentity): boolean {
  return startTicks(p.pid) === p.start && processState(p.pid) !== 'Z';
}
