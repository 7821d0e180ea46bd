import { ErrorCode, isKubeRouterError } from '../../util/errors.js';
import { restoreFailure } from '../restore-error.js';
import { stderrOf, type Exec } from '../exec.js';
import { parseNftJson, parseSetCounters } from './parse-json.js';
import type { NftCounter, NftFamily, Nftables, NftTableState } from './types.js';

export class RealNftables implements Nftables {
  constructor(private readonly exec: Exec) {}

  async apply(script: string): Promise<void> {
    try {
      await this.exec.run(['nft', '-f', '-'], { stdin: script, timeoutMs: 300_000 });
    } catch (e) {
      // nft names the failing line as `/dev/stdin:N:…`
      if (isKubeRouterError(e, ErrorCode.ToolFailed)) throw restoreFailure('nft -f', script, stderrOf(e), /(?:stdin|-):(\d+):/);
      throw e;
    }
  }

  async dump(family: NftFamily, table: string): Promise<NftTableState | undefined> {
    try {
      const out = await this.exec.run(['nft', '-j', 'list', 'table', family, table], { timeoutMs: 300_000 });
      return parseNftJson(out.stdout, family, table);
    } catch (e) {
      if (isKubeRouterError(e, ErrorCode.ToolFailed) && /No such file or directory/.test(stderrOf(e))) return undefined;
      throw e;
    }
  }

  async listSet(family: NftFamily, table: string, set: string): Promise<string[] | undefined> {
    for (const kind of ['set', 'map'] as const) {
      try {
        const out = await this.exec.run(['nft', '-j', 'list', kind, family, table, set], { timeoutMs: 60_000 });
        return [...(parseNftJson(out.stdout, family, table).sets.get(set)?.elements ?? [])];
      } catch (e) {
        if (!(isKubeRouterError(e, ErrorCode.ToolFailed) && /No such file or directory/.test(stderrOf(e)))) throw e;
      }
    }
    return undefined;
  }

  async listSetCounters(family: NftFamily, table: string, set: string): Promise<ReadonlyMap<string, NftCounter> | undefined> {
    try {
      const out = await this.exec.run(['nft', '-j', 'list', 'set', family, table, set], { timeoutMs: 60_000 });
      return parseSetCounters(out.stdout);
    } catch (e) {
      if (isKubeRouterError(e, ErrorCode.ToolFailed) && /No such file or directory/.test(stderrOf(e))) return undefined;
      throw e;
    }
  }

  async listTables(): Promise<{ family: NftFamily; name: string }[]> {
    const out = await this.exec.run(['nft', '-j', 'list', 'tables']);
    const doc = JSON.parse(out.stdout) as { nftables?: { table?: { family: string; name: string } }[] };
    return (doc.nftables ?? []).flatMap((i) => (i.table ? [{ family: i.table.family as NftFamily, name: i.table.name }] : []));
  }
}
