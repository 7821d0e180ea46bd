/**
 * DSR on a real IPVS kernel (in the VM), as upstream does it: the proxy controller on real adapters in
 * a node namespace finds each local backend pod's process through a CRI runtime (the lab's, over gRPC
 * on a unix socket), enters the pod's network namespace and gives it an IP-in-IP tunnel carrying the
 * VIP; the node marks the VIP's packets, delivers them to an fwmark IPVS service through table 78 and
 * tunnels them to the pods, which answer the client themselves.
 *
 *   client ns 198.18.0.3 ── node ns (198.18.0.10 on eth0, 198.18.64.1/24 on br0) ── pods p1 .2, p2 .3
 *   (the client reaches the externalIP 198.19.0.5 through the node, as a BGP route would take it)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LabContainerRuntime } from '../../lab/cri-runtime.js';
import { openCri } from '../../pkg/cri/client.js';
import { netnsExec, realExec } from '../../pkg/linux/exec.js';
import { realNetlinkSockets } from '../../pkg/linux/genl/socket.js';
import { openIpvs } from '../../pkg/linux/ipvs/real.js';
import { addNetns, deleteNetns } from '../../pkg/linux/netns.js';
import { podTunnelContract } from '../../pkg/linux/podtunnel/contract.test-support.js';
import { RealPodTunnels } from '../../pkg/linux/podtunnel/real.js';
import { harness, podWithContainer, service, slice, type Harness } from '../../pkg/proxy/harness.test-support.js';
import { startInNetns, type NsProcess } from '../../test/ns-process.js';
import { DIST } from '../../test/paths.js';
import type { IP } from '../../pkg/util/ip.js';

const VIP = '198.19.0.5';
const CIP = '198.18.128.20';
const sh = realExec();
const ipIn = (ns: string, ...a: string[]): Promise<unknown> => sh.run(['ip', '-n', ns, ...a]);
const inNs = async (ns: string, ...argv: string[]): Promise<string> => (await sh.run(['ip', 'netns', 'exec', ns, ...argv])).stdout;

describe('DSR on a real IPVS kernel (VM): the pod answers the client itself', function () {
  this.timeout(300_000);
  const tag = `krt-t-${process.pid}-ds`;
  const N = `${tag}-node`;
  const C = `${tag}-cli`;
  const pods = [`${tag}-p1`, `${tag}-p2`];
  const podIPs = ['198.18.64.2', '198.18.64.3'];
  const servers: NsProcess[] = [];
  let dir: string;
  let runtime: LabContainerRuntime;
  let h: Harness | undefined;

  const curl = async (url: string): Promise<string> => {
    const out = await inNs(C, 'curl', '-s', '-m', '5', '-D', '-', url).catch(() => 'REFUSED');
    const client = /x-client: (\S+)/i.exec(out)?.[1];
    return client ? `${out.trim().split('\n').pop() ?? ''} client=${client}` : out.trim();
  };
  const tunnelOf = (pod: string): Promise<string> => inNs(pod, 'ip', '-4', 'addr', 'show', 'dev', 'kube-tunnel-if').catch(() => 'NONE');

  before(async () => {
    for (const ns of [N, C, ...pods]) await addNetns(sh, ns);
    for (const ns of [N, C, ...pods]) await ipIn(ns, 'link', 'set', 'lo', 'up');
    await ipIn(N, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', C);
    await ipIn(N, 'addr', 'add', '198.18.0.10/24', 'dev', 'eth0');
    await ipIn(C, 'addr', 'add', '198.18.0.3/24', 'dev', 'eth0');
    await ipIn(N, 'link', 'add', 'br0', 'type', 'bridge');
    await ipIn(N, 'addr', 'add', '198.18.64.1/24', 'dev', 'br0');
    for (const [i, p] of pods.entries()) {
      await ipIn(N, 'link', 'add', `veth${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', p);
      await ipIn(N, 'link', 'set', `veth${i}`, 'master', 'br0', 'up');
      await ipIn(p, 'addr', 'add', `${podIPs[i] ?? ''}/24`, 'dev', 'eth0');
      await ipIn(p, 'link', 'set', 'eth0', 'up');
      await ipIn(p, 'route', 'add', 'default', 'via', '198.18.64.1');
    }
    for (const l of ['eth0', 'br0']) await ipIn(N, 'link', 'set', l, 'up');
    await ipIn(C, 'link', 'set', 'eth0', 'up');
    await ipIn(C, 'route', 'add', `${VIP}/32`, 'via', '198.18.0.10');
    await inNs(N, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    for (const [i, p] of pods.entries()) servers.push(startInNetns(p, ['node', join(DIST, 'lab/workload.js'), '--name', `default/p${i + 1}`, '--tcp', '8080']));
    for (const s of servers) await s.waitForOutput(/ready/, 60_000);
    // The runtime: each pod's one container is the process serving it.
    dir = mkdtempSync(join(tmpdir(), 'krt-dsr-'));
    runtime = new LabContainerRuntime(join(dir, 'cri.sock'));
    servers.forEach((s, i) => runtime.setContainer(`c${i + 1}`, s.pid));
    await runtime.start();
  });

  after(async () => {
    await h?.close();
    await runtime.stop();
    for (const s of servers) await s.stop(500);
    for (const ns of [N, C, ...pods]) await deleteNetns(sh, ns).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  podTunnelContract('real (nsenter into a pod namespace)', () => Promise.resolve({ tunnels: new RealPodTunnels(sh), pid: servers[1]?.pid ?? -1, podIP: '198.18.64.3' as IP, missingPid: 0x3ffffffe }));

  it('a DSR externalIP: marked, delivered to an fwmark service, tunnelled to each pod, answered from the pod with the client address kept', async () => {
    const ipvs = await openIpvs(realNetlinkSockets(), { netns: N });
    assert.ok(ipvs, 'the VM kernel has IPVS');
    h = await harness(['--service-proxy-backend=ipvs', '--ipvs-sync-period=5s', `--runtime-endpoint=unix://${join(dir, 'cri.sock')}`], { real: { netns: N, ipvs }, dsr: { podTunnels: new RealPodTunnels(netnsExec(sh, N)), openCri } });
    for (const [i, ip] of podIPs.entries()) await h.client.create(podWithContainer(`p${i + 1}`, ip, `c${i + 1}`));
    await h.client.create(service('web', { type: 'ClusterIP', clusterIP: CIP, clusterIPs: [CIP], externalIPs: [VIP], ports: [{ name: 'http', port: 8080, protocol: 'TCP' }] }, { annotations: { 'kube-router.io/service.dsr': 'tunnel' } }));
    await h.client.create(slice('web', podIPs.map((ip, i) => ({ ip, pod: `p${i + 1}` })), [{ name: 'http', port: 8080 }]));
    await h.until('both pods have the VIP on their tunnel', async () => (await Promise.all(pods.map(tunnelOf))).every((t) => t.includes(`${VIP}/32`)), 60_000).catch(async (e: unknown) => {
      throw new Error(`${String(e)}\n${await inNs(N, 'ipvsadm', '-Ln')}\n${h?.lines.slice(-20).join('\n') ?? ''}`);
    });
    const table = await inNs(N, 'ipvsadm', '-Ln');
    const fwm = /FWM\s+(\d+)\s+rr/.exec(table);
    assert.ok(fwm, table);
    for (const ip of podIPs) assert.match(table, new RegExp(`-> ${ip.replace(/\./g, '\\.')}:8080\\s+Tunnel\\s+1`), table);
    assert.match(await inNs(N, 'ip', 'rule'), new RegExp(`fwmark 0x${Number(fwm[1]).toString(16)} lookup 78`));
    assert.match(await inNs(N, 'ip', 'route', 'show', 'table', '78'), /local default dev lo/);
    assert.doesNotMatch(await inNs(N, 'ip', '-4', 'addr', 'show', 'dev', 'kube-dummy-if'), new RegExp(VIP.replace(/\./g, '\\.')), 'a VIP-less director');
    // Count what leaves p1 from the VIP: the replies, sent by the pod itself.
    await sh.run(['ip', 'netns', 'exec', pods[0] as string, 'nft', '-f', '-'], { stdin: `add table ip dsrtest\nadd chain ip dsrtest out { type filter hook output priority 0 ; }\nadd rule ip dsrtest out ip saddr ${VIP} tcp sport 8080 counter\nadd rule ip dsrtest out ip saddr 198.18.64.2 tcp sport 8080 counter\n` });

    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const r = await curl(`http://${VIP}:8080/`);
      assert.match(r, /^default\/p[12] client=198\.18\.0\.3$/, `the client address reaches the pod (no NAT): ${r}`);
      seen.add(r.split(' ')[0] ?? '');
    }
    assert.deepEqual([...seen].sort(), ['default/p1', 'default/p2']);
    // Where the reply left: the pod itself sent it from the VIP (under NAT it would leave from the pod's
    // own address, rewritten by the node); the node only routed it on (the MSS clamp in its PREROUTING
    // counted the SYN-ACKs coming from the pods' side, source VIP).
    const counters = await inNs(pods[0] as string, 'nft', 'list', 'table', 'ip', 'dsrtest');
    const fromVip = Number(/ip saddr 198\.19\.0\.5 tcp sport 8080 counter packets (\d+)/.exec(counters)?.[1] ?? 0);
    const fromPod = Number(/ip saddr 198\.18\.64\.2 tcp sport 8080 counter packets (\d+)/.exec(counters)?.[1] ?? -1);
    assert.ok(fromVip > 0, `p1 sent its replies from ${VIP}: ${counters}`);
    assert.equal(fromPod, 0, `p1 sent nothing from its own address (no NAT): ${counters}`);
    // The fwmark service carried every connection (IPVS folds its per-CPU counters into what it reports every 2 s).
    let stats = '';
    await h.until('IPVS counted the 8 connections', async () => {
      stats = (await inNs(N, 'ipvsadm', '-Ln', '--stats')).split('\n').find((l) => l.startsWith('FWM')) ?? '';
      const [, , conns, inPkts] = stats.trim().split(/\s+/);
      return Number(conns) >= 8 && Number(inPkts) > 0;
    }, 15_000).catch(() => assert.fail(stats));
    const mangle = await inNs(N, 'iptables', '-t', 'mangle', '-L', 'KUBE-ROUTER-DSR', '-v', '-n', '-x');
    const clamp = mangle.split('\n').find((l) => l.includes('TCPMSS'));
    assert.ok(clamp && Number(clamp.trim().split(/\s+/)[0]) >= 8, `the pods' SYN-ACKs were clamped on their way out: ${mangle}`);
    // The ClusterIP of the same Service stays plain NAT.
    assert.match(await inNs(N, 'ipvsadm', '-Ln', '-t', `${CIP}:8080`), /Masq/);
  });

  it('dropping DSR cleans up on the node and inside the pods; the externalIP is served with NAT again', async () => {
    await h?.client.patch('Service', 'default', 'web', { metadata: { annotations: { 'kube-router.io/service.dsr': null } } });
    await h?.until('no tunnel left in the pods', async () => (await Promise.all(pods.map(tunnelOf))).every((t) => t === 'NONE'), 60_000);
    await h?.until('no fwmark service', async () => !(await inNs(N, 'ipvsadm', '-Ln')).includes('FWM'), 30_000);
    assert.doesNotMatch(await inNs(N, 'ip', 'rule'), /lookup 78/);
    assert.doesNotMatch(await inNs(N, 'iptables-save', '-t', 'mangle'), /set-xmark/);
    await h?.until('the externalIP is an address service again', async () => (await inNs(N, 'ipvsadm', '-Ln')).includes(`${VIP}:8080`), 30_000);
    const r = await curl(`http://${VIP}:8080/`);
    assert.match(r, /^default\/p[12] client=/, r);
  });
});
