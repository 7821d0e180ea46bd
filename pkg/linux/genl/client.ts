/**
 * Generic netlink requests over one socket: family lookup, single requests, dumps, and batches with a
 * bounded number in flight (the receive buffer can never overflow, see docs/performance.md "Netlink from Node").
 * Between windows of a batch the event loop gets a turn.
 */
import { ErrorCode, KubeRouterError } from '../../util/errors.js';
import { attr, decodeAttrs, encodeGenl, read, type Attr } from './message.js';
import { NetlinkRequester, type Encode, type Pending } from './requester.js';
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

export class GenlClient {
  private readonly requester: NetlinkRequester;

  private constructor(
    private readonly socket: NetlinkSocket,
    readonly familyId: number,
    private readonly version: number,
    maxInFlight: number,
    replyTimeoutMs: number,
  ) {
    this.requester = new NetlinkRequester(socket, { maxInFlight, replyTimeoutMs, what: 'generic netlink' });
  }

  private encoders(calls: readonly GenlCall[]): Encode[] {
    return calls.map((c) => (seq, flags) => encodeGenl({ family: this.familyId, cmd: c.cmd, version: this.version, flags, seq, attrs: c.attrs }));
  }

  private run(calls: readonly GenlCall[], dump: boolean): Promise<Pending[]> {
    return this.requester.run(this.encoders(calls), dump);
  }

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
  batch(calls: readonly GenlCall[]): Promise<(NetlinkError | KubeRouterError | undefined)[]> {
    return this.requester.batch(this.encoders(calls));
  }
}
