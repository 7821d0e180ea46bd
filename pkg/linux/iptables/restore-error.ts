import { ErrorCode, KubeRouterError } from '../../util/errors.js';

/**
 * Turns iptables-restore's "line N failed" into a typed error carrying the failing line and a few
 * lines of context, so a log shows what we asked the kernel for.
 */
export function restoreError(tool: string, input: string, stderr: string): KubeRouterError {
  const m = /line:? (\d+)/i.exec(stderr);
  const lines = input.split('\n');
  const n = m ? Number(m[1]) : undefined;
  const context = n === undefined ? '' : lines.slice(Math.max(0, n - 3), n + 2).map((l, i) => `${Math.max(1, n - 2) + i}: ${l}`).join('\n');
  return new KubeRouterError(ErrorCode.RestoreFailed, `${tool} failed${n !== undefined ? ` at line ${n}` : ''}: ${stderr.trim().split('\n')[0] ?? ''}`, {
    line: n,
    failingLine: n !== undefined ? lines[n - 1] : undefined,
    context,
    stderr,
  });
}
