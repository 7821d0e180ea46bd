import { BgpSpeaker, type BestChange, type SpeakerConfig } from '../bgp/speaker/speaker.js';
import type { TcpMd5 } from '../linux/tcp-md5.js';
import type { TcpSockets } from '../linux/tcp-socket.js';
import { BfdSessions } from '../bfd/sessions.js';
import type { BfdTransport } from '../bfd/transport.js';
import type { Clock } from '../util/clock.js';
import { errorMessage } from '../util/errors.js';
import type { Logger } from '../util/logger.js';
import type { BgpPlan } from './bgp-plan.js';
import type { RoutingMetrics } from './metrics.js';

export interface SpeakerHostDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: RoutingMetrics;
  readonly md5: TcpMd5;
  /** Sockets with a TTL and MD5 key set before connecting. */
  readonly sockets?: TcpSockets;
  /** BFD's sockets, opened only while a peer asks for BFD. */
  readonly bfdTransport?: (logger: Logger) => BfdTransport;
  /** Called when the learned best paths change. */
  readonly onBestChange: (c: BestChange) => void;
}

export interface SpeakerSettings {
  readonly port: number;
  readonly holdTimeMs: number;
  readonly gracefulRestart: { readonly enabled: boolean; readonly timeMs: number };
  readonly maxPrefixes: number;
  readonly overrideNextHop?: boolean;
}

/**
 * Owns the running BGP speaker: started from the plan, restarted only when its own settings change
 * (peers change in place) and upstream's counters fed straight from the
 * speaker's UPDATEs.
 */
export class SpeakerHost {
  private current: { readonly key: string; readonly speaker: BgpSpeaker; readonly off: () => void } | undefined;

  constructor(private readonly deps: SpeakerHostDeps) {}

  get speaker(): BgpSpeaker | undefined {
    return this.current?.speaker;
  }

  /** The speaker for this plan: the running one when its settings are the same, a new one otherwise. */
  async ensure(plan: BgpPlan, s: SpeakerSettings): Promise<BgpSpeaker> {
    const cfg: SpeakerConfig = {
      localAs: plan.localAs,
      routerId: plan.routerId,
      listenPort: s.port,
      listenAddresses: plan.listenAddresses,
      holdTime: Math.round(s.holdTimeMs / 1000),
      connectRetrySeconds: 5,
      gracefulRestart: { enabled: s.gracefulRestart.enabled, timeSeconds: Math.round(s.gracefulRestart.timeMs / 1000) },
      importReject: plan.importReject,
      nextHop: plan.nextHop,
      ...(s.overrideNextHop ? { nextHopSelfExternal: true } : {}),
      sessionAddress: plan.sessionAddress,
      maxPrefixes: s.maxPrefixes,
      ...(plan.rrClusterId ? { rrClusterId: plan.rrClusterId } : {}),
    };
    const key = JSON.stringify(cfg);
    if (this.current?.key === key) return this.current.speaker;
    if (this.current) {
      this.deps.logger.info('BGP speaker settings changed: restarting it', {});
      this.current.off();
      await this.current.speaker.stop();
      this.current = undefined;
    }
    const m = this.deps.metrics;
    const bfdLogger = this.deps.logger.child('bfd');
    const bfd = this.deps.bfdTransport ? new BfdSessions({ clock: this.deps.clock, logger: bfdLogger, transport: this.deps.bfdTransport(bfdLogger), counters: { discarded: (reason) => m.bfdDiscarded.inc({ reason }) } }) : undefined;
    const speaker = new BgpSpeaker(cfg, {
      clock: this.deps.clock,
      logger: this.deps.logger.child('bgp'),
      md5: this.deps.md5,
      ...(this.deps.sockets ? { sockets: this.deps.sockets } : {}),
      counters: { received: (n) => m.advertisementsReceived.inc(n), sent: (type, n) => m.advertisementsSent.inc({ type }, n) },
      ...(bfd ? { bfd } : {}),
    });
    try {
      await speaker.start();
    } catch (e) {
      this.deps.logger.error('BGP listener failed', { error: errorMessage(e), port: s.port });
      throw e;
    }
    this.current = { key, speaker, off: speaker.onBestChange(this.deps.onBestChange) };
    this.deps.logger.info('BGP speaker started', { as: plan.localAs, routerId: plan.routerId, port: s.port });
    return speaker;
  }

  /** With `graceful`, peers keep our routes while we are away (upstream does not stop BGP then). */
  async stop(graceful: boolean): Promise<void> {
    if (this.current) {
      this.current.off();
      await this.current.speaker.stop({ graceful });
      this.current = undefined;
    }
  }
}
