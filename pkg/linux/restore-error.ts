import { ErrorCode, KubeRouterError } from '../util/errors.js';

/**
 * A batch tool (`iptables-restore`, `ipset restore`, `nft -f`, `ip -batch`) failed: a typed error that
 * carries the failing input line and a few lines around it, found with the tool's own way of naming
 * the line in its error output (`linePattern`'s first group).
 */
export function restoreFailure(tool: string, input: string, stderr: string, linePattern: RegExp, code: ErrorCode = ErrorCode.RestoreFailed): KubeRouterError {
  const m = linePattern.exec(stderr);
  const lines = input.split('\n');
  const n = m?.[1] !== undefined ? Number(m[1]) : undefined;
  const context = n === undefined ? '' : lines.slice(Math.max(0, n - 3), n + 2).map((l, i) => `${Math.max(1, n - 2) + i}: ${l}`).join('\n');
  return new KubeRouterError(code, `${tool} failed${n !== undefined ? ` at line ${n} (${lines[n - 1] ?? ''})` : ''}: ${stderr.trim().split('\n')[0] ?? ''}`, {
    line: n,
    failingLine: n !== undefined ? lines[n - 1] : undefined,
    context,
    stderr,
  });
}
