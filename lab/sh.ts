import { realExec, type ExecResult } from '../pkg/linux/exec.js';

const host = realExec();

/** Runs a tool in the root namespace (argv, never a shell string). */
export function run(...argv: string[]): Promise<ExecResult> {
  return host.run(argv);
}

/** Runs a tool inside a namespace. */
export function nsRun(ns: string, ...argv: string[]): Promise<ExecResult> {
  return host.run(['ip', 'netns', 'exec', ns, ...argv]);
}

export function ipn(ns: string, ...args: string[]): Promise<ExecResult> {
  return host.run(['ip', '-n', ns, ...args]);
}

export function sysctl(ns: string, key: string, value: string): Promise<ExecResult> {
  return nsRun(ns, 'sysctl', '-qw', `${key}=${value}`);
}
