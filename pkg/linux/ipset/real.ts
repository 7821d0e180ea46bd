import { ErrorCode, isKubeRouterError } from '../../util/errors.js';
import { restoreFailure } from '../restore-error.js';
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
      throw restoreFailure('ipset restore', text, stderrOf(e), /line (\d+)/);
    }
  }

  async save(): Promise<SavedSet[]> {
    return parseIpsetSave((await this.exec.run(['ipset', 'save'], { timeoutMs: 60_000 })).stdout);
  }
}
