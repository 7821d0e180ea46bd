import assert from 'node:assert/strict';
import { ErrorCode, isKubeRouterError } from '../../util/errors.js';
import type { IP } from '../../util/ip.js';
import type { Ipvs, IpvsDestination, IpvsService, IpvsServiceId } from './types.js';

export interface IpvsSubject {
  readonly ipvs: Ipvs;
  close(): Promise<void>;
}

const ip = (s: string): IP => s as IP;
const web: IpvsServiceId = { family: 4, protocol: 'tcp', address: ip('198.18.100.1'), port: 80 };
const svc = (id: IpvsServiceId, scheduler = 'rr', extra: Partial<IpvsService> = {}): IpvsService => ({ id, scheduler, flags: {}, timeout: 0, netmask: id.family === 4 ? 0xffffffff : 128, ...extra });
const dest = (a: string, port: number, weight = 1): IpvsDestination => ({ address: ip(a), port, forward: 'masq', weight, upperThreshold: 0, lowerThreshold: 0 });

/** Behaviour every Ipvs must show, against the fake and the real kernel (in the VM). */
export function ipvsContract(label: string, make: () => Promise<IpvsSubject>): void {
  describe(`ipvs contract: ${label}`, function () {
    this.timeout(120_000);
    let s: IpvsSubject;
    beforeEach(async () => {
      s = await make();
    });
    afterEach(async () => {
      await s.close();
    });

    it('adds services and destinations and dumps them back exactly', async () => {
      const v6: IpvsServiceId = { family: 6, protocol: 'udp', address: ip('2001:db8::a'), port: 53 };
      const res = await s.ipvs.apply([
        { op: 'add-service', service: svc(web, 'rr') },
        { op: 'add-dest', service: web, dest: dest('198.18.1.1', 8080) },
        { op: 'add-dest', service: web, dest: dest('198.18.1.2', 8080, 3) },
        { op: 'add-service', service: svc(v6, 'sh', { flags: { sched1: true, sched2: true } }) },
        { op: 'add-dest', service: v6, dest: dest('2001:db8::1:1', 5353) },
      ]);
      assert.deepEqual(res, [undefined, undefined, undefined, undefined, undefined]);
      const services = (await s.ipvs.services()).map(({ stats: _s, ...rest }) => rest);
      assert.equal(services.length, 2);
      assert.deepEqual(services.find((x) => 'address' in x.id && x.id.address === '198.18.100.1'), svc(web, 'rr'));
      assert.deepEqual(services.find((x) => 'address' in x.id && x.id.address === '2001:db8::a'), svc(v6, 'sh', { flags: { sched1: true, sched2: true } }));
      const dests = (await s.ipvs.destinations(web)).map((d) => ({ address: d.address, port: d.port, forward: d.forward, weight: d.weight, upperThreshold: d.upperThreshold, lowerThreshold: d.lowerThreshold }));
      assert.deepEqual(dests.sort((a, b) => a.address.localeCompare(b.address)), [dest('198.18.1.1', 8080), dest('198.18.1.2', 8080, 3)]);
      assert.deepEqual((await s.ipvs.destinations(v6)).map((d) => `${d.address}/${d.port}`), ['2001:db8::1:1/5353']);
    });

    it('updates a service in place (scheduler, persistence) and a destination (weight)', async () => {
      await s.ipvs.apply([{ op: 'add-service', service: svc(web) }, { op: 'add-dest', service: web, dest: dest('198.18.1.1', 80) }]);
      const persistent = svc(web, 'lc', { flags: { persistent: true }, timeout: 600 });
      assert.deepEqual(await s.ipvs.apply([{ op: 'update-service', service: persistent }, { op: 'update-dest', service: web, dest: dest('198.18.1.1', 80, 0) }]), [undefined, undefined]);
      const [got] = await s.ipvs.services();
      assert.ok(got);
      assert.equal(got.scheduler, 'lc');
      assert.equal(got.flags.persistent, true);
      assert.equal(got.timeout, 600);
      assert.equal((await s.ipvs.destinations(web))[0]?.weight, 0);
    });

    it('reports each failed op with a typed error and still runs the others', async () => {
      const res = await s.ipvs.apply([
        { op: 'add-service', service: svc(web) },
        { op: 'add-service', service: svc(web) },
        { op: 'delete-dest', service: web, address: ip('198.18.9.9'), port: 1 },
        { op: 'add-dest', service: { ...web, port: 81 }, dest: dest('198.18.1.1', 80) },
        { op: 'add-service', service: svc({ ...web, port: 82 }, 'no-such-scheduler') },
        { op: 'add-dest', service: web, dest: dest('198.18.1.1', 80) },
      ]);
      assert.equal(res[0], undefined);
      assert.ok(isKubeRouterError(res[1], ErrorCode.AlreadyExists), String(res[1]));
      assert.ok(isKubeRouterError(res[2], ErrorCode.NotFound), String(res[2]));
      assert.ok(isKubeRouterError(res[3], ErrorCode.NotFound), String(res[3]));
      assert.ok(res[4] instanceof Error, 'an unknown scheduler is refused');
      assert.equal(res[5], undefined);
      assert.equal((await s.ipvs.services()).length, 1);
    });

    it('deletes destinations and services; destinations of a missing service dump as none (as the kernel does)', async () => {
      await s.ipvs.apply([{ op: 'add-service', service: svc(web) }, { op: 'add-dest', service: web, dest: dest('198.18.1.1', 80) }, { op: 'add-dest', service: web, dest: dest('198.18.1.2', 80) }]);
      assert.deepEqual(await s.ipvs.apply([{ op: 'delete-dest', service: web, address: ip('198.18.1.1'), port: 80 }]), [undefined]);
      assert.deepEqual((await s.ipvs.destinations(web)).map((d) => d.address), ['198.18.1.2']);
      assert.deepEqual(await s.ipvs.apply([{ op: 'delete-service', id: web }]), [undefined]);
      assert.deepEqual(await s.ipvs.services(), []);
      assert.deepEqual(await s.ipvs.destinations(web), []);
    });

    it('every scheduler upstream offers (rr, wrr, lc, wlc, dh, sh, mh, sed, nq) is accepted and reads back', async () => {
      const names = ['rr', 'wrr', 'lc', 'wlc', 'dh', 'sh', 'mh', 'sed', 'nq'];
      const res = await s.ipvs.apply(names.map((n, i) => ({ op: 'add-service' as const, service: svc({ ...web, port: 1000 + i }, n) })));
      assert.deepEqual(res, names.map(() => undefined));
      const got = new Map((await s.ipvs.services()).map((x) => ['port' in x.id ? x.id.port : 0, x.scheduler]));
      assert.deepEqual(names.map((_, i) => got.get(1000 + i)), names);
    });

    it('fwmark services', async () => {
      const fw: IpvsServiceId = { family: 4, fwmark: 0x1234 };
      assert.deepEqual(await s.ipvs.apply([{ op: 'add-service', service: svc(fw, 'mh', { flags: { sched1: true } }) }, { op: 'add-dest', service: fw, dest: dest('198.18.1.1', 0) }]), [undefined, undefined]);
      const [got] = await s.ipvs.services();
      assert.deepEqual(got?.id, fw);
      assert.equal(got.scheduler, 'mh');
      assert.equal((await s.ipvs.destinations(fw)).length, 1);
    });

    it('sets and reads the global timeouts', async () => {
      await s.ipvs.setTimeouts({ tcp: 1800, tcpFin: 30, udp: 120 });
      assert.deepEqual(await s.ipvs.timeouts(), { tcp: 1800, tcpFin: 30, udp: 120 });
    });

    it('many ops in one batch (more than one window in flight)', async () => {
      const ops = [];
      for (let i = 0; i < 600; i++) {
        const id: IpvsServiceId = { family: 4, protocol: 'tcp', address: ip(`198.18.${100 + Math.floor(i / 250)}.${i % 250}`), port: 80 };
        ops.push({ op: 'add-service' as const, service: svc(id) }, { op: 'add-dest' as const, service: id, dest: dest('198.18.1.1', 80) });
      }
      const res = await s.ipvs.apply(ops);
      assert.equal(res.filter((r) => r !== undefined).length, 0);
      assert.equal((await s.ipvs.services()).length, 600);
    });
  });
}
