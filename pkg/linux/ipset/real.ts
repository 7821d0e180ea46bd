import { ErrorCode, isKubeRouterError, KubeRouterError } from '../../util/errors.js';
import { stderrOf, type Exec } from '../exec.js';
import { parseIpsetSave } from './parse-save.js';
import type { Ipset, SavedSet } from './types.js';

export class RealIpset implements Ipset {
  constructor(private readonly exec: Exec) {}

  async restore(text: string): Promise<void> {
    try {
      await this.exec.run(['ipset', '-exist', 'restore'], { stdin: text, timeoutMs: 120_000 });
    } catch (e) {
      if (!isKubeRouterError(e, ErrorCode.ToolFailed)) throw e;
      const stderr = stderrOf(e);
      const m = /line (\d+)/.exec(stderr);
      const n = m ? Number(m[1]) : undefined;
      throw new KubeRouterError(ErrorCode.RestoreFailed, `ipset restore failed${n ? ` at line ${n}` : ''}: ${stderr.trim()}`, { line: n, failingLine: n ? text.split('\n')[n - 1] : undefined, stderr });
    }
  }

  async save(): Promise<SavedSet[]> {
    return parseIpsetSave((await this.exec.run(['ipset', 'save'], { timeoutMs: 60_000 })).stdout);
  }
}
