/**
 * Requests over one netlink socket, whatever the protocol (generic netlink, rtnetlink): each window of
 * requests goes out in one datagram and its answers are matched by sequence number; windows are
 * serialized so replies never interleave, and the event loop gets a turn between them. The receive
 * buffer can never overflow (docs/performance.md "Netlink from Node").
 */
import { setImmediate as yieldLoop, setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, KubeRouterError } from '../../util/errors.js';
import { decodeMessages, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST } from './message.js';
import { NetlinkError, type NetlinkSocket } from './socket.js';

/** One request's bytes, given its sequence number and the header flags the requester sets. */
export type Encode = (seq: number, flags: number) => Buffer;

export interface Pending {
  readonly dump: boolean;
  readonly replies: { readonly type: number; readonly cmd: number; readonly attrs: Buffer; readonly body: Buffer }[];
  done: boolean;
  error?: NetlinkError | KubeRouterError;
}

export interface RequesterOptions {
  /** Requests sent before their answers are read. */
  readonly maxInFlight: number;
  /** How long an answer may take before the request fails with a timeout. */
  readonly replyTimeoutMs: number;
  /** Names the protocol in errors. */
  readonly what: string;
}

export class NetlinkRequester {
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private busy: Promise<void> = Promise.resolve();

  constructor(
    private readonly socket: NetlinkSocket,
    private readonly opts: RequesterOptions,
  ) {}

  /** Many writes, each with its own outcome (undefined: done), at most maxInFlight at a time. */
  async batch(requests: readonly Encode[]): Promise<(NetlinkError | KubeRouterError | undefined)[]> {
    const out: (NetlinkError | KubeRouterError | undefined)[] = [];
    const n = this.opts.maxInFlight;
    for (let i = 0; i < requests.length; i += n) {
      const window = await this.run(requests.slice(i, i + n), false);
      for (const p of window) out.push(p.error);
      if (i + n < requests.length) await yieldLoop();
    }
    return out;
  }

  /** Runs one window of requests; calls are serialized so replies never interleave. */
  /** A dump: every reply until the kernel says done. */
  async dump(request: Encode): Promise<Pending['replies']> {
    const [r] = await this.run([request], true);
    if (!r || r.error) throw r?.error ?? new KubeRouterError(ErrorCode.ToolFailed, `${this.opts.what}: no answer`);
    return r.replies;
  }

  run(requests: readonly Encode[], dump: boolean): Promise<Pending[]> {
    const next = this.busy.then(() => this.exchange(requests, dump));
    this.busy = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  private async exchange(requests: readonly Encode[], dump: boolean): Promise<Pending[]> {
    const pending = new Map<number, Pending>();
    const ordered: Pending[] = [];
    // One datagram for the whole window: the kernel handles each message in turn and answers each
    // (an error in one does not stop the others), for one send() instead of one per request.
    const buffers: Buffer[] = [];
    for (const encode of requests) {
      this.seq = (this.seq + 1) >>> 0;
      const p: Pending = { dump, replies: [], done: false };
      pending.set(this.seq, p);
      ordered.push(p);
      buffers.push(encode(this.seq, NLM_F_REQUEST | NLM_F_ACK | (dump ? NLM_F_DUMP : 0)));
    }
    try {
      this.socket.send(buffers.length === 1 ? (buffers[0] as Buffer) : Buffer.concat(buffers));
    } catch (e) {
      const err = e instanceof KubeRouterError ? e : new KubeRouterError(ErrorCode.ToolFailed, String(e));
      for (const p of ordered) Object.assign(p, { done: true, error: err });
    }
    let open = ordered.filter((p) => !p.done).length;
    const deadline = Date.now() + this.opts.replyTimeoutMs;
    while (open > 0) {
      let datagram: Buffer | undefined;
      try {
        datagram = this.socket.receive();
      } catch (e) {
        // ENOBUFS (the kernel dropped answers) or worse: nothing outstanding can be trusted.
        const err = e instanceof KubeRouterError ? e : new KubeRouterError(ErrorCode.ToolFailed, String(e));
        for (const p of ordered) if (!p.done) Object.assign(p, { done: true, error: err });
        break;
      }
      if (!datagram) {
        if (Date.now() > deadline) {
          for (const p of ordered) if (!p.done) Object.assign(p, { done: true, error: new KubeRouterError(ErrorCode.Timeout, `${this.opts.what}: no answer within ${this.opts.replyTimeoutMs} ms`) });
          break;
        }
        await sleep(1);
        continue;
      }
      for (const m of decodeMessages(datagram)) {
        const p = pending.get(m.seq);
        if (!p || p.done) continue; // an answer to a request that already timed out
        if (m.kind === 'data') p.replies.push({ type: m.type, cmd: m.cmd, attrs: m.attrs, body: m.body });
        else if (m.kind === 'error') {
          // Dumps end with DONE; an ACK after it (or instead of data) also ends them.
          if (m.errno !== 0) p.error = new NetlinkError(m.errno, `${this.opts.what} request`, m.message);
          p.done = true;
          open--;
        } else if (m.kind === 'done') {
          if (p.dump) {
            p.done = true;
            open--;
          }
        }
      }
    }
    return ordered;
  }
}
