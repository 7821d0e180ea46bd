import assert from 'node:assert/strict';
import { ErrorCode, isKubeRouterError } from '../../util/errors.js';
import type { Iptables } from './types.js';

export interface IptablesSubject {
  readonly ipt: Iptables;
  close(): Promise<void>;
}

function has(save: string, line: string): boolean {
  return save.split('\n').includes(line);
}

/** The behaviour every Iptables implementation must show; run against the fake and the real tools. */
export function iptablesContract(label: string, make: () => Promise<IptablesSubject>): void {
  describe(`iptables contract: ${label}`, function () {
    this.timeout(30_000);
    let s: IptablesSubject;
    beforeEach(async () => {
      s = await make();
    });
    afterEach(async () => {
      await s.close();
    });
    const host = (): string => (s.ipt.family === 4 ? '198.18.0.1/32' : '2001:db8::1/128');

    it('creates our chain and a jump to it, and leaves foreign chains and rules alone', async () => {
      await s.ipt.restore(['*filter', ':FOREIGN - [0:0]', '-A FOREIGN -j DROP', '-A INPUT -j FOREIGN', 'COMMIT', ''].join('\n'));
      await s.ipt.restore(['*filter', ':KRT-TEST - [0:0]', `-A KRT-TEST -s ${host()} -j ACCEPT`, '-I INPUT 1 -m comment --comment "krt test jump" -j KRT-TEST', 'COMMIT', ''].join('\n'));
      const save = await s.ipt.save('filter');
      assert.ok(has(save, `-A KRT-TEST -s ${host()} -j ACCEPT`), save);
      assert.ok(has(save, '-A INPUT -m comment --comment "krt test jump" -j KRT-TEST'), save);
      assert.ok(has(save, '-A FOREIGN -j DROP'), save);
      assert.ok(has(save, '-A INPUT -j FOREIGN'), save);
      const input = save.split('\n').filter((l) => l.startsWith('-A INPUT'));
      assert.equal(input[0], '-A INPUT -m comment --comment "krt test jump" -j KRT-TEST', 'inserted first');
    });

    it('re-declaring our chain replaces its rules (how a chain is rewritten)', async () => {
      await s.ipt.restore(['*filter', ':KRT-TEST - [0:0]', `-A KRT-TEST -s ${host()} -j ACCEPT`, 'COMMIT', ''].join('\n'));
      await s.ipt.restore(['*filter', ':KRT-TEST - [0:0]', `-A KRT-TEST -s ${host()} -j DROP`, 'COMMIT', ''].join('\n'));
      const rules = (await s.ipt.save('filter')).split('\n').filter((l) => l.startsWith('-A KRT-TEST'));
      assert.deepEqual(rules, [`-A KRT-TEST -s ${host()} -j DROP`]);
    });

    it('a failing restore applies nothing of its table and says which line failed', async () => {
      // (iptables-save's comment lines carry the time of day: compared without them)
      const rules = async (): Promise<string> => (await s.ipt.save('filter')).split('\n').filter((l) => !l.startsWith('#')).join('\n');
      const before = await rules();
      const input = ['*filter', ':KRT-A - [0:0]', '-A KRT-A -j ACCEPT', '-A KRT-A -j KRT-MISSING', 'COMMIT', ''].join('\n');
      await assert.rejects(s.ipt.restore(input), (e: unknown) => isKubeRouterError(e, ErrorCode.RestoreFailed) && typeof e.details['line'] === 'number');
      assert.equal(await rules(), before);
    });

    it('deletes a rule and then our chain; deleting a referenced chain fails', async () => {
      await s.ipt.restore(['*filter', ':KRT-TEST - [0:0]', '-A FORWARD -j KRT-TEST', 'COMMIT', ''].join('\n'));
      await assert.rejects(s.ipt.restore(['*filter', '-X KRT-TEST', 'COMMIT', ''].join('\n')));
      await s.ipt.restore(['*filter', '-D FORWARD -j KRT-TEST', '-X KRT-TEST', 'COMMIT', ''].join('\n'));
      const save = await s.ipt.save('filter');
      assert.ok(!save.includes('KRT-TEST'), save);
    });

    it('nat table: our chain with MASQUERADE, reached from POSTROUTING', async () => {
      await s.ipt.restore(['*nat', ':KRT-POST - [0:0]', `-A KRT-POST -s ${host()} -j MASQUERADE`, '-A POSTROUTING -j KRT-POST', 'COMMIT', ''].join('\n'));
      const save = await s.ipt.save('nat');
      assert.ok(has(save, `-A KRT-POST -s ${host()} -j MASQUERADE`), save);
      assert.ok(has(save, '-A POSTROUTING -j KRT-POST'), save);
    });

    it('rejects tcp-reset without -p tcp (the whole commit fails)', async () => {
      await assert.rejects(s.ipt.restore(['*filter', ':KRT-R - [0:0]', '-A KRT-R -j REJECT --reject-with tcp-reset', 'COMMIT', ''].join('\n')));
      assert.ok(!(await s.ipt.save('filter')).includes('KRT-R'));
    });
  });
}
