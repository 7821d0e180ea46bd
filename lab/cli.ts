#!/usr/bin/env node
/**
 * npm run lab -- VERB [options]. Every verb takes --name LAB (default "lab"). Exit status: 0 ok;
 * probe: 1 when nothing answered; 2 on a lab or usage error.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { spawnSync } from 'node:child_process';
import { apply, defaultControlPlane, destroyLab, inspectSocket, mustLoad, probe, readDocs, remove, status, up, netnsOf } from './lab.js';
import { kubectlArgv } from './kubectl.js';
import { fabricPrefixes } from './plan.js';
import { errorMessage } from '../pkg/util/errors.js';
import { asString } from '../pkg/util/json.js';

const progress = (m: string): void => {
  process.stderr.write(`lab: ${m}\n`);
};

async function main(): Promise<number> {
  let code = 0;
  await yargs(hideBin(process.argv))
    .scriptName('lab')
    .parserConfiguration({ 'populate--': true })
    .option('name', { type: 'string', default: 'lab', describe: 'lab name (several labs can exist at once)' })
    .command(
      'up',
      'create a lab cluster with kube-router on every node (daemon flags after --)',
      (y) =>
        y
          .option('nodes', { type: 'number', default: 3 })
          .option('subnets', { type: 'number', choices: [1, 2], default: 1 })
          .option('peer', { type: 'string', choices: ['bird', 'gobgp', 'none'], default: 'none' })
          .option('ipv6', { type: 'boolean', default: false })
          .option('prometheus', { type: 'boolean', default: false, describe: 'run Prometheus in the API namespace scraping every node (as a PodMonitor would)' })
          .option('control-plane', { type: 'string', choices: ['kubernetes', 'fixture'], default: defaultControlPlane(), describe: 'the real Kubernetes control plane (built by scripts/setup.sh) or the API server fixture' })
          .option('fabric-cidr', { type: 'string', default: '198.18.0.0/24', describe: 'the first segment (a /24 in 198.18.0.0/18; the second segment is the next /24)' }),
      async (a) => {
        const extra = ((a as Record<string, unknown>)['--'] as string[] | undefined) ?? [];
        const fab = fabricPrefixes(a['fabric-cidr'], a.subnets as 1 | 2);
        if (!Array.isArray(fab)) throw new Error(fab.error);
        const st = await up({ name: a.name, nodes: a.nodes, subnets: a.subnets as 1 | 2, peer: a.peer as 'bird' | 'gobgp' | 'none', ipv6: a.ipv6, daemonArgs: extra, fabricCidr: a['fabric-cidr'], controlPlane: a['control-plane'] as 'kubernetes' | 'fixture', prometheus: a.prometheus }, progress);
        progress(`lab ${st.plan.name} is up: ${st.plan.nodes} nodes`);
      },
    )
    .command('apply', 'create or replace objects from multi-document YAML; returns once pods are ready', (y) => y.option('f', { type: 'string', demandOption: true, alias: 'file' }), async (a) => {
      await apply(mustLoad(a.name), readDocs(a.f), progress);
    })
    .command('delete', 'delete the objects in a YAML file', (y) => y.option('f', { type: 'string', demandOption: true, alias: 'file' }), async (a) => {
      await remove(mustLoad(a.name), readDocs(a.f));
    })
    .command(
      'probe',
      'connect from a pod, node or the external client; print the answering namespace/name',
      (y) =>
        y
          .option('from', { type: 'string', demandOption: true, describe: 'NS/POD, node/NODE or external' })
          .option('to', { type: 'string', demandOption: true, describe: 'ADDR:PORT' })
          .option('proto', { type: 'string', choices: ['tcp', 'udp'], default: 'tcp' })
          .option('timeout-ms', { type: 'number', default: 2000 }),
      async (a) => {
        const r = await probe(mustLoad(a.name), a.from, a.to, a.proto as 'tcp' | 'udp', a['timeout-ms']);
        process.stdout.write(r.output.endsWith('\n') ? r.output : r.output + '\n');
        code = r.ok ? 0 : 1;
      },
    )
    .command('exec <node>', 'run a command in a node\'s namespace (command after --)', (y) => y.positional('node', { type: 'string', demandOption: true }), (a) => {
      const cmd = ((a as Record<string, unknown>)['--'] as string[] | undefined) ?? [];
      const st = mustLoad(a.name);
      const node = a.node.replace(/^node\//, '');
      // KUBE_ROUTER_SOCKET: `kube-router proxy|routes|bgp` in that node read its daemon.
      const r = spawnSync('ip', ['netns', 'exec', netnsOf(st, `node/${node}`), ...cmd], { stdio: 'inherit', env: { ...process.env, KUBE_ROUTER_SOCKET: inspectSocket(st, node) } });
      code = r.status ?? 1;
    })
    .command('kubectl', 'run the built kubectl against the lab as cluster-admin (its arguments after --)', () => undefined, (a) => {
      const argv = kubectlArgv(mustLoad(a.name), ((a as Record<string, unknown>)['--'] as string[] | undefined) ?? []);
      const r = spawnSync(argv[0] ?? 'false', argv.slice(1), { stdio: 'inherit' });
      code = r.status ?? 1;
    })
    .command('status', 'nodes, pods, services, fabric and each daemon\'s view', (y) => y.option('json', { type: 'boolean', default: false }), async (a) => {
      const s = await status(mustLoad(a.name));
      process.stdout.write(a.json ? JSON.stringify(s, null, 2) + '\n' : renderStatus(s));
    })
    .command('down', 'remove everything the lab made (also after a crash)', () => undefined, async (a) => {
      const r = await destroyLab(a.name);
      progress(`lab ${a.name} removed: ${r.namespaces} namespaces, ${r.processes} processes`);
    })
    .demandCommand(1)
    .strict()
    .fail((msg, err) => {
      throw err ?? new Error(msg);
    })
    .parseAsync();
  return code;
}

function renderStatus(s: Record<string, unknown>): string {
  const lines: string[] = [];
  for (const n of s['nodes'] as { name: string; ips: string[]; podCIDRs: string[]; daemon: Record<string, unknown> }[]) {
    const peers = (n.daemon['bgpPeers'] as string[] | undefined) ?? [];
    const up = peers.filter((p) => p.includes('state="Established"')).length;
    lines.push(`${n.name}  ${n.ips.join(',')}  pods ${n.podCIDRs.join(',')}  healthz ${String(n.daemon['healthz'])}  proxy ${asString(n.daemon['proxyBackend']) ?? '-'} (${String(n.daemon['serviceFrontends'])} frontends)  bgp ${up}/${peers.length} established  firewall ${String(n.daemon['policyChains'])} chains`);
  }
  for (const p of s['pods'] as { namespace: string; name: string; node: string; ips: string[] }[]) lines.push(`pod ${p.namespace}/${p.name} on ${p.node}: ${p.ips.join(',')}`);
  for (const v of s['services'] as { namespace: string; name: string; type: string; clusterIPs: string[]; ports: { port: number; protocol: string; nodePort?: number }[] }[]) {
    lines.push(`service ${v.namespace}/${v.name} ${v.type} ${(v.clusterIPs ?? []).join(',')} ${v.ports.map((p) => `${p.port}/${p.protocol}${p.nodePort ? `:${p.nodePort}` : ''}`).join(' ')}`);
  }
  return lines.join('\n') + '\n';
}

main().then(
  (c) => process.exit(c),
  (e: unknown) => {
    process.stderr.write(`lab: ${errorMessage(e)}\n`);
    process.exit(2);
  },
);
