import { spawn } from 'node:child_process';
import { ErrorCode, KubeRouterError } from '../util/errors.js';

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
}

export interface ExecOptions {
  readonly stdin?: string;
  readonly timeoutMs?: number;
}

/**
 * The only way kube-router runs a tool: an argv array (never a shell string), data on stdin, a
 * timeout, and typed errors (tool-missing, tool-failed with exit code and stderr, timeout).
 */
export interface Exec {
  run(argv: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
}

const DEFAULT_TIMEOUT_MS = 60_000;

export function realExec(): Exec {
  return {
    run: (argv, opts = {}) =>
      new Promise<ExecResult>((resolve, reject) => {
        const [cmd, ...args] = argv;
        if (cmd === undefined) return reject(new KubeRouterError(ErrorCode.Invalid, 'empty argv'));
        const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
        const out: Buffer[] = [];
        const err: Buffer[] = [];
        let done = false;
        const timer = setTimeout(() => {
          if (done) return;
          done = true;
          child.kill('SIGKILL');
          reject(new KubeRouterError(ErrorCode.Timeout, `${cmd} timed out after ${opts.timeoutMs ?? DEFAULT_TIMEOUT_MS} ms`, { argv }));
        }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS);
        child.stdout.on('data', (b: Buffer) => out.push(b));
        child.stderr.on('data', (b: Buffer) => err.push(b));
        child.on('error', (e: NodeJS.ErrnoException) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          reject(e.code === 'ENOENT' ? new KubeRouterError(ErrorCode.ToolMissing, `${cmd} is not installed`, { argv }) : new KubeRouterError(ErrorCode.ToolFailed, `${cmd}: ${e.message}`, { argv }));
        });
        child.on('close', (code) => {
          if (done) return;
          done = true;
          clearTimeout(timer);
          const stdout = Buffer.concat(out).toString('utf8');
          const stderr = Buffer.concat(err).toString('utf8');
          if (code === 0) resolve({ stdout, stderr });
          else reject(new KubeRouterError(ErrorCode.ToolFailed, `${argv.slice(0, 3).join(' ')} exited ${code}: ${stderr.trim().slice(0, 500)}`, { argv, exitCode: code, stderr, stdout }));
        });
        child.stdin.on('error', () => undefined); // the tool may exit before reading all input
        child.stdin.end(opts.stdin ?? '');
      }),
  };
}

/** Runs every command inside a network namespace (`ip netns exec NS …`): how tests aim tools at a throwaway netns. */
export function netnsExec(inner: Exec, netns: string): Exec {
  return { run: (argv, opts) => inner.run(['ip', 'netns', 'exec', netns, ...argv], opts) };
}

/** Tool error text, for callers that need the kernel's words in a typed error. */
export function stderrOf(e: unknown): string {
  if (e instanceof KubeRouterError && typeof e.details['stderr'] === 'string') return e.details['stderr'];
  return e instanceof Error ? e.message : String(e);
}
