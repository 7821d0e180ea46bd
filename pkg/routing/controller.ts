import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ControllerContext } from '../daemon/context.js';
import { parseNode, primaryIP } from '../k8s/node.js';
import type { Views } from '../k8s/watch-layer.js';
import type { Controller } from '../runtime/controller.js';
import { BoundedFrequencyRunner } from '../runtime/runner.js';
import type { Logger } from '../util/logger.js';
import { DEFAULT_CNI_CONF, overlayOverhead, updateCniConf } from './cni-config.js';

/**
 * The router (NetworkRoutesController). In this build: the CNI config (pod CIDRs as host-local ranges,
 * MTU) and forwarding sysctls. The BGP speaker, learned-route installation, overlays and pod egress
 * are not in this build yet (issues 7 and 8).
 */
export class RoutingController implements Controller {
  readonly name = 'NetworkRoutesController';
  readonly syncPeriodMs: number;
  private readonly views: Views<'nodes'>;
  private readonly runner: BoundedFrequencyRunner;
  private readonly logger: Logger;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly ctx: ControllerContext) {
    this.syncPeriodMs = ctx.config.router.syncPeriodMs;
    this.logger = ctx.logger.child('routing');
    this.views = ctx.watch.views('nodes');
    this.runner = new BoundedFrequencyRunner(() => this.sync(), { name: this.name, minIntervalMs: 0, maxIntervalMs: this.syncPeriodMs, retryAfterMs: 2000 }, ctx.clock, this.logger);
  }

  start(): Promise<void> {
    this.unsubscribe = this.views.nodes.subscribe(() => this.runner.run());
    this.runner.start();
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    await this.runner.stop();
  }

  private async nodeMtu(nodeIP: string | undefined): Promise<number | undefined> {
    if (!nodeIP) return undefined;
    const nl = this.ctx.kernel.netlink;
    const addrs = [...(await nl.addresses(4)), ...(await nl.addresses(6))];
    const dev = addrs.find((a) => a.ip === nodeIP)?.dev;
    return (await nl.links()).find((l) => l.name === dev)?.mtu;
  }

  private async sync(): Promise<void> {
    const cfg = this.ctx.config;
    const self = this.views.nodes.get(cfg.nodeName);
    if (!self) {
      this.logger.warn('this node has no Node object yet', { node: cfg.nodeName });
      this.ctx.health.beat(this.name);
      return;
    }
    const node = parseNode(self);
    for (const p of node.problems) this.logger.warn('node annotation ignored', { node: node.name, problem: p });
    const podCIDRs = node.podCIDRs.length > 0 ? node.podCIDRs : cfg.router.clusterCidr ? [cfg.router.clusterCidr] : [];
    if (cfg.router.enableCni) {
      const file = cfg.router.cniConfFile;
      const nodeIP = primaryIP(node, cfg.enableIPv4 ? 4 : 6);
      let mtu: number | undefined;
      if (cfg.router.autoMtu) {
        const m = await this.nodeMtu(nodeIP);
        if (m !== undefined) mtu = cfg.router.overlay.enabled ? m - overlayOverhead(cfg.router.overlay.encap, nodeIP?.includes(':') ?? false) : m;
      }
      const current = existsSync(file) ? readFileSync(file, 'utf8') : JSON.stringify(DEFAULT_CNI_CONF, null, 2) + '\n';
      const r = updateCniConf(current, podCIDRs, mtu);
      if (r.kind === 'invalid') {
        this.logger.error('CNI config left as it is', { file, reason: r.reason });
        this.ctx.metrics.inputRejected.inc({ controller: 'routing', kind: 'CNIConfig' });
      } else if (r.changed || !existsSync(file)) {
        mkdirSync(dirname(file), { recursive: true });
        writeFileSync(file + '.tmp', r.text);
        renameSync(file + '.tmp', file);
        this.logger.info('CNI config written', { file, podCIDRs: podCIDRs.join(','), mtu });
      }
    }
    await this.ctx.kernel.exec.run(['sysctl', '-qw', 'net.ipv4.ip_forward=1']).catch(() => undefined);
    if (cfg.enableIPv6) await this.ctx.kernel.exec.run(['sysctl', '-qw', 'net.ipv6.conf.all.forwarding=1']).catch(() => undefined);
    this.ctx.health.beat(this.name);
  }
}
