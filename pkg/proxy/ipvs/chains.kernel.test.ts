import assert from 'node:assert/strict';
import { throwawayNetns } from '../../../test/throwaway-netns.js';
import { ensureOwnedChains } from '../../linux/iptables/owned-chain.js';
import { RealIptables } from '../../linux/iptables/real.js';
import type { IptablesVariant } from '../../linux/iptables/types.js';
import { chainTestModel } from './chains.test-support.js';
import { ipvsChainSpecs, SET_BASE, setName, svipPortEntry } from './desired.js';

/**
 * Our IPVS chains are written as `iptables-save` prints them back, so a resync with nothing changed
 * writes nothing (a rule written as `--icmp-type echo-request` reads back as `-m icmp --icmp-type 8`
 * and was rewritten on every resync). The nat table's `-m ipvs` rules need xt_ipvs, which this kernel
 * lacks: the VM's proxy benchmark counts those (its no-op resync writes).
 */
describe('IPVS chains on real iptables: written once, a second pass writes nothing', function () {
  this.timeout(30_000);
  for (const variant of ['nft', 'legacy'] as IptablesVariant[]) {
    for (const family of [4, 6] as const) {
      it(`${variant}, IPv${family}: the service filter (with the ICMP types) and the DSR marks`, async () => {
        const ns = await throwawayNetns();
        try {
          const inet = family === 6 ? 'inet6' : 'inet';
          for (const [base, type] of [[SET_BASE.svip, 'hash:ip'], [SET_BASE.svipPort, 'hash:ip,port'], [SET_BASE.localIPs, 'hash:ip']] as const) await ns.exec.run(['ipset', 'create', setName(base, family), type, 'family', inet]);
          const model = chainTestModel(family);
          const dsrMarks = new Map([...model.frontends.values()].map((f, i) => [svipPortEntry(f), 0x100 + i] as const));
          const specs = ipvsChainSpecs(model, { rejectUnserved: true, masqueradeAll: false }, dsrMarks).filter((s) => s.table !== 'nat');
          assert.ok(specs.some((s) => s.chains.some((c) => c.rules.some((r) => r.includes('icmp')))), 'the filter has its ICMP rules');
          const ipt = new RealIptables(ns.exec, family, variant);
          assert.ok((await ensureOwnedChains(ipt, specs)) > 0, 'first pass writes');
          assert.equal(await ensureOwnedChains(ipt, specs), 0, 'a second pass with nothing changed writes nothing');
        } finally {
          await ns.remove();
        }
      });
    }
  }
});
