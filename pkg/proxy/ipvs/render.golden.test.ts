import { golden } from '../../../test/golden.js';
import { ownedChainLines } from '../../linux/iptables/owned-chain.js';
import type { Family } from '../../util/ip.js';
import { chainTestModel } from './chains.test-support.js';
import { ipvsChainSpecs } from './desired.js';

/** What a fresh node gets: every table's restore text for our chains and the jumps into them. */
function restoreText(family: Family, opts: { rejectUnserved: boolean; masqueradeAll: boolean }): string {
  const out: string[] = [];
  for (const spec of ipvsChainSpecs(chainTestModel(family), opts)) out.push(`*${spec.table}`, ...ownedChainLines({ chains: new Map() }, spec), 'COMMIT');
  return out.join('\n') + '\n';
}

describe('IPVS filter and nat chains (golden)', () => {
  for (const f of [4, 6] as const) {
    it(`IPv${f}: the service filter with --ipvs-permit-all, hairpin SNAT and masquerade`, () => {
      golden(`proxy/ipvs-chains-v${f}.rules`, restoreText(f, { rejectUnserved: true, masqueradeAll: false }));
    });
  }
  it('--masquerade-all: no exemptions, one MASQUERADE; without permit-all the filter chain is empty', () => {
    golden('proxy/ipvs-chains-masquerade-all.rules', restoreText(4, { rejectUnserved: false, masqueradeAll: true }));
  });
});
