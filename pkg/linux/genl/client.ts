/**
 * Generic netlink requests over one socket: family lookup, single requests, dumps, and batches with a
 * bounded number in flight (the receive buffer can never overflow, see docs/performance.md "Netlink from Node").
 * Between windows of a batch the event loop gets a turn.
 */
import { setImmediate as yieldLoop, setTimeout as sleep } from 'node:timers/promises';
import { ErrorCode, KubeRouterError } from '../../util/errors.js';
import { attr, decodeAttrs, decodeMessages, encodeGenl, NLM_F_ACK, NLM_F_DUMP, NLM_F_REQUEST, read, type Attr } from './message.js';
import { ENOENT, NetlinkError, type NetlinkSocket, type NetlinkSocketOptions, type OpenNetlinkSocket } from './socket.js';

export const NETLINK_GENERIC = 16;
const GENL_ID_CTRL = 0x10;
const CTRL_CMD_GETFAMILY = 3;
const CTRL_ATTR_FAMILY_ID = 1;
const CTRL_ATTR_FAMILY_NAME = 2;

export interface GenlReply {
  readonly cmd: number;
  readonly attrs: Buffer;
}

export interface GenlCall {
  readonly cmd: number;
  readonly attrs: readonly Attr[];
}

export interface GenlClientOptions extends NetlinkSocketOptions {
  /** Requests sent before their answers are read (default 64). */
  readonly maxInFlight?: number;
  /** How long an answer may take before the request fails with a timeout (default 5 s). */
  readonly replyTimeoutMs?: number;
}

interface Pending {
  readonly dump: boolean;
  readonly replies: GenlReply[];
  done: boolean;
  error?: NetlinkError | KubeRouterError;
}

export class GenlClient {
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private busy: Promise<void> = Promise.resolve();

  private constructor(
    private readonly socket: NetlinkSocket,
    readonly familyId: number,
    private readonly version: number,
    private readonly maxInFlight: number,
    private readonly replyTimeoutMs: number,
  ) {}

  /** Opens a socket and resolves a family by name; undefined when the kernel has no such family. */
  static async open(sockets: OpenNetlinkSocket, familyName: string, version: number, opts: GenlClientOptions = {}): Promise<GenlClient | undefined> {
    const socket = sockets(NETLINK_GENERIC, opts);
    const ctrl = new GenlClient(socket, GENL_ID_CTRL, 1, opts.maxInFlight ?? 64, opts.replyTimeoutMs ?? 5000);
    try {
      const [reply] = await ctrl.request(CTRL_CMD_GETFAMILY, [attr.str(CTRL_ATTR_FAMILY_NAME, familyName)]);
      const id = reply ? read.u16(decodeAttrs(reply.attrs), CTRL_ATTR_FAMILY_ID) : undefined;
      if (id === undefined) throw new KubeRouterError(ErrorCode.ParseError, `generic netlink: no id for family ${familyName}`);
      return new GenlClient(socket, id, version, opts.maxInFlight ?? 64, opts.replyTimeoutMs ?? 5000);
    } catch (e) {
      socket.close();
      if (e instanceof NetlinkError && e.errno === ENOENT) return undefined;
      throw e;
    }
  }

  close(): void {
    this.socket.close();
  }

  /** One request; resolves with its data replies (none for most writes), rejects with its error. */
  async request(cmd: number, attrs: readonly Attr[]): Promise<GenlReply[]> {
    const [r] = await this.run([{ cmd, attrs }], false);
    if (!r || r.error) throw r?.error ?? new KubeRouterError(ErrorCode.ToolFailed, 'generic netlink: no answer');
    return r.replies;
  }

  /** A dump: every reply until the kernel says done. */
  async dump(cmd: number, attrs: readonly Attr[] = []): Promise<GenlReply[]> {
    const [r] = await this.run([{ cmd, attrs }], true);
    if (!r || r.error) throw r?.error ?? new KubeRouterError(ErrorCode.ToolFailed, 'generic netlink: no answer');
    return r.replies;
  }

  /** Many writes, each with its own outcome (undefined: done), at most maxInFlight at a time. */
  async batch(calls: readonly GenlCall[]): Promise<(NetlinkError | KubeRouterError | undefined)[]> {
    const out: (NetlinkError | KubeRouterError | undefined)[] = [];
    for (let i = 0; i < calls.length; i += this.maxInFlight) {
      const window = await this.run(calls.slice(i, i + this.maxInFlight), false);
      for (const p of window) out.push(p.error);
      if (i + this.maxInFlight < calls.length) await yieldLoop();
    }
    return out;
  }

  /** Runs one window of requests; calls are serialized so replies never interleave. */
  private run(calls: readonly GenlCall[], dump: boolean): Promise<Pending[]> {
    const next = this.busy.then(() => this.exchange(calls, dump));
    this.busy = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  private async exchange(calls: readonly GenlCall[], dump: boolean): Promise<Pending[]> {
    const pending = new Map<number, Pending>();
    const ordered: Pending[] = [];
    // One datagram for the whole window: the kernel handles each message in turn and answers each
    // (an error in one does not stop the others), for one send() instead of one per request.
    const buffers: Buffer[] = [];
    for (const c of calls) {
      this.seq = (this.seq + 1) >>> 0;
      const p: Pending = { dump, replies: [], done: false };
      pending.set(this.seq, p);
      ordered.push(p);
      buffers.push(encodeGenl({ family: this.familyId, cmd: c.cmd, version: this.version, flags: NLM_F_REQUEST | NLM_F_ACK | (dump ? NLM_F_DUMP : 0), seq: this.seq, attrs: c.attrs }));
    }
    try {
      this.socket.send(buffers.length === 1 ? (buffers[0] as Buffer) : Buffer.concat(buffers));
    } catch (e) {
      const err = e instanceof KubeRouterError ? e : new KubeRouterError(ErrorCode.ToolFailed, String(e));
      for (const p of ordered) Object.assign(p, { done: true, error: err });
    }
    let open = ordered.filter((p) => !p.done).length;
    const deadline = Date.now() + this.replyTimeoutMs;
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
          for (const p of ordered) if (!p.done) Object.assign(p, { done: true, error: new KubeRouterError(ErrorCode.Timeout, `generic netlink: no answer within ${this.replyTimeoutMs} ms`) });
          break;
        }
        await sleep(1);
        continue;
      }
      for (const m of decodeMessages(datagram)) {
        const p = pending.get(m.seq);
        if (!p || p.done) continue; // an answer to a request that already timed out
        if (m.kind === 'data') p.replies.push({ cmd: m.cmd, attrs: m.attrs });
        else if (m.kind === 'error') {
          // Dumps end with DONE; an ACK after it (or instead of data) also ends them.
          if (m.errno !== 0) p.error = new NetlinkError(m.errno, 'generic netlink request', m.message);
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
