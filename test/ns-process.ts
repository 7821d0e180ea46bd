/**
 * Long-running processes inside a network namespace, for tests and the lab: output kept in memory
 * (and optionally a log file), ended by PID in cleanup. `ip netns exec` execs the command, so the
 * PID we hold is the process itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';

export interface NsProcess {
  readonly pid: number;
  output(): string;
  /** Resolves with the exit code (or signal name) once the process ends. */
  readonly exited: Promise<number | string>;
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<number | string>;
}

export function startInNetns(netns: string | undefined, argv: readonly string[], opts: { logFile?: string; env?: NodeJS.ProcessEnv } = {}): NsProcess {
  const full = netns ? ['ip', 'netns', 'exec', netns, ...argv] : [...argv];
  const child: ChildProcess = spawn(full[0] as string, full.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: opts.env ?? process.env });
  let out = '';
  const log: WriteStream | undefined = opts.logFile ? createWriteStream(opts.logFile, { flags: 'a' }) : undefined;
  const onData = (b: Buffer): void => {
    out += b.toString('utf8');
    if (out.length > 4_000_000) out = out.slice(-2_000_000);
    log?.write(b);
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, sig) => {
    log?.end();
    resolve(code ?? sig ?? -1);
  }));
  let done = false;
  void exited.then(() => (done = true));
  return {
    pid: child.pid ?? -1,
    output: () => out,
    exited,
    async waitForOutput(re, timeoutMs = 15_000) {
      const end = Date.now() + timeoutMs;
      while (!re.test(out)) {
        if (done) throw new Error(`process exited before printing ${re}:\n${out.slice(-3000)}`);
        if (Date.now() > end) throw new Error(`timed out waiting for ${re}:\n${out.slice(-3000)}`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async stop(graceMs = 5000) {
      if (!done) child.kill('SIGTERM');
      const t = setTimeout(() => {
        if (!done) child.kill('SIGKILL');
      }, graceMs);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
}
