import type { Family } from '../../util/ip.js';
import { ErrorCode, isKubeRouterError, KubeRouterError } from '../../util/errors.js';
import { stderrOf, type Exec } from '../exec.js';
import { restoreFailure } from '../restore-error.js';
import type { Iptables, IptablesTable, IptablesVariant } from './types.js';

function tool(family: Family, variant: IptablesVariant, what: 'restore' | 'save'): string {
  return `${family === 4 ? 'iptables' : 'ip6tables'}-${variant}-${what}`;
}

export class RealIptables implements Iptables {
  constructor(
    private readonly exec: Exec,
    readonly family: Family,
    readonly variant: IptablesVariant,
  ) {}

  async restore(text: string): Promise<void> {
    const bin = tool(this.family, this.variant, 'restore');
    try {
      // -w: wait for the xtables lock instead of failing when another tool holds it.
      await this.exec.run([bin, '-w', '10', '--noflush'], { stdin: text, timeoutMs: 120_000 });
    } catch (e) {
      if (isKubeRouterError(e, ErrorCode.ToolFailed)) throw restoreFailure(bin, text, stderrOf(e), /line:? (\d+)/i);
      throw e;
    }
  }

  async save(table: IptablesTable): Promise<string> {
    return (await this.exec.run([tool(this.family, this.variant, 'save'), '-t', table], { timeoutMs: 120_000 })).stdout;
  }
}

/**
 * Which iptables backend the host uses (as iptables-wrapper decides): the one that already holds
 * rules; nft when both or neither do. Never mix the two: rules in both would be evaluated twice.
 */
export async function detectIptablesVariant(exec: Exec): Promise<IptablesVariant> {
  const count = async (variant: IptablesVariant): Promise<number> => {
    try {
      const out = (await exec.run([`iptables-${variant}-save`], { timeoutMs: 30_000 })).stdout;
      return out.split('\n').filter((l) => l.startsWith('-A ')).length;
    } catch (e) {
      if (isKubeRouterError(e, ErrorCode.ToolMissing)) return -1;
      throw e;
    }
  };
  const [legacy, nft] = await Promise.all([count('legacy'), count('nft')]);
  if (legacy < 0 && nft < 0) throw new KubeRouterError(ErrorCode.ToolMissing, 'neither iptables-legacy nor iptables-nft is installed');
  if (nft < 0) return 'legacy';
  if (legacy > nft) return 'legacy';
  return 'nft';
}
