/**
 * Requests over one netlink socket, whatever the protocol (generic netlink, rtnetlink): each window of
 * requests goes out in one datagram and its answers are matched by sequence number; windows are
 * serialized so replies never interleave, and the event loop gets a turn between them. The receive
 * buffer can never overflow (docs/performance.md "Netlink from Node"). Writes ask for an ACK on the
 * last request of a window only: the kernel handles a datagram's messages in order and answers a
 * failed one with its error whether asked or not, so the last ACK means every earlier request
 * without an error succeeded (one receive per window instead of one per request).
 */
import { setImmediate as yieldLoop, setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, KubeRouterError } from '../../util/errors.js';
import { decodeMessages, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST } from './message.js';
import { NetlinkError, type NetlinkSocket } from './socket.js';

/** One request's bytes, given its sequence number and the header flags the requester sets. */
export type Encode = (seq: number, flags: number) => Buffer;

/**
 * A request encoded once without its sequence number and request flags (both 0), for a requester that
 * runs elsewhere (another thread): they are written into the message when it is sent.
 */
export function preEncoded(message: Buffer): Encode {
  return (seq, flags) => {
    message.writeUInt32LE(seq >>> 0, 8);
    message.writeUInt16LE(message.readUInt16LE(6) | flags, 6);
    return message;
  };
}

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
      const window = await this.run(requests.slice(i, i + n), false, 'last');
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

  run(requests: readonly Encode[], dump: boolean, ack: 'each' | 'last' = 'each'): Promise<Pending[]> {
    const next = this.busy.then(() => this.exchange(requests, dump, ack));
    this.busy = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  private async exchange(requests: readonly Encode[], dump: boolean, ack: 'each' | 'last'): Promise<Pending[]> {
    const pending = new Map<number, Pending>();
    const ordered: Pending[] = [];
    // One datagram for the whole window: the kernel handles each message in turn and answers each
    // (an error in one does not stop the others), for one send() instead of one per request.
    const buffers: Buffer[] = [];
    const quiet = ack === 'last' && !dump;
    for (const [i, encode] of requests.entries()) {
      this.seq = (this.seq + 1) >>> 0;
      const p: Pending = { dump, replies: [], done: false };
      pending.set(this.seq, p);
      ordered.push(p);
      const acked = !quiet || i === requests.length - 1;
      buffers.push(encode(this.seq, NLM_F_REQUEST | (acked ? NLM_F_ACK : 0) | (dump ? NLM_F_DUMP : 0)));
    }
    const last = ordered[ordered.length - 1];
    try {
      this.socket.send(buffers.length === 1 ? (buffers[0] as Buffer) : Buffer.concat(buffers));
    } catch (e) {
      const err = e instanceof KubeRouterError ? e : new KubeRouterError(ErrorCode.ToolFailed, String(e));
      for (const p of ordered) Object.assign(p, { done: true, error: err });
    }
    // Quiet: only the last request's answer is awaited; the others answer only when they fail.
    let open = quiet ? (last && !last.done ? 1 : 0) : ordered.filter((p) => !p.done).length;
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
          if (!quiet) open--;
          else if (p === last) {
            open = 0;
            for (const q of ordered) q.done = true;
          }
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
