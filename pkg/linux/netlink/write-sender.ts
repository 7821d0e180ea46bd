/**
 * Where rtnetlink writes are sent from. The kernel does a route's work (FIB insertion, notifications)
 * inside our send(), so 100,000 routes hold the calling thread for about half a second: on the event
 * loop that is half a second in which BGP UPDATEs wait and keepalives cannot go out. The worker sender
 * does those sends on a thread of its own, on the other core, while the event loop goes on parsing;
 * messages are encoded here (so the worker never sees our types) and handed over without a copy.
 */
import { Worker } from 'node:worker_threads';
import { ErrorCode, errorMessage, KubeRouterError } from '../../util/errors.js';
import { NetlinkRequester, preEncoded } from '../genl/requester.js';
import { NetlinkError, type NetlinkSocket } from '../genl/socket.js';

export type WriteOutcome = NetlinkError | KubeRouterError | undefined;

export interface WriteSender {
  /**
   * Each message sent (encoded back to back in `data`, cut apart by `lengths`, with sequence 0 and no
   * request flags); outcomes in order (undefined: done). `data` must own its whole ArrayBuffer
   * (Buffer.allocUnsafeSlow): it may be handed to another thread and is not to be used afterwards.
   */
  send(data: Buffer, lengths: Uint32Array): Promise<WriteOutcome[]>;
  close(): void;
}

/** Requests at a time over one socket: route requests and their answers are small. */
export const RTNL_WINDOW = 256;
const REPLY_TIMEOUT_MS = 5000;

/** Sends on the calling thread, over `socket`. */
export function threadWriteSender(socket: NetlinkSocket): WriteSender {
  const requester = new NetlinkRequester(socket, { maxInFlight: RTNL_WINDOW, replyTimeoutMs: REPLY_TIMEOUT_MS, what: 'rtnetlink' });
  return { send: (data, lengths) => requester.batch(cut(data, lengths).map(preEncoded)), close: () => undefined };
}

/** Messages back to back, as views (no copy). */
function cut(data: Buffer, lengths: Uint32Array): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const len of lengths) {
    out.push(data.subarray(at, at + len));
    at += len;
  }
  return out;
}

/** A failed write as it crosses threads. */
export interface WireFailure {
  readonly index: number;
  readonly code: ErrorCode;
  readonly message: string;
  readonly errno?: number;
  readonly what?: string;
  readonly kernelMessage?: string;
}

/** What the main thread asks of the worker. */
export type ToWorker =
  | { readonly kind: 'write'; readonly id: number; /** The messages back to back; `lengths` cuts them apart. */ readonly data: ArrayBuffer; readonly lengths: Uint32Array }
  | { readonly kind: 'watch'; readonly protocol: number }
  | { readonly kind: 'unwatch' };

/** What the worker tells: a write's outcome, or that some of our routes were deleted (or the watch failed). */
export type WorkerReply =
  | { readonly kind: 'written'; readonly id: number; readonly failures: readonly WireFailure[] }
  | { readonly kind: 'fatal'; readonly id: number; readonly error: string }
  | { readonly kind: 'deleted' }
  | { readonly kind: 'watch-failed'; readonly error: string };

export function toWire(index: number, e: NetlinkError | KubeRouterError): WireFailure {
  return e instanceof NetlinkError ? { index, code: e.code, message: e.message, errno: e.errno, what: e.what, ...(e.kernelMessage !== undefined ? { kernelMessage: e.kernelMessage } : {}) } : { index, code: e.code, message: e.message };
}

export function fromWire(f: WireFailure): NetlinkError | KubeRouterError {
  return f.errno !== undefined ? new NetlinkError(f.errno, f.what ?? 'rtnetlink request', f.kernelMessage) : new KubeRouterError(f.code, f.message);
}

/** The worker's options: which namespace its socket lives in. */
export interface WriteWorkerData {
  readonly netns?: string;
}

export interface DeletionWatch {
  readonly protocol: number;
  readonly onDeleted: () => void;
  readonly onFailed: (error: string) => void;
}

/**
 * The netlink worker (write-worker.ts): sends writes from its own thread and, while asked to, watches
 * for deletions of our routes. Started on the first write or watch (a worker costs about 12 MiB and a
 * few hundred milliseconds to load), again after it ended. It holds the process open only while a
 * write is outstanding.
 */
export class NetlinkWorker implements WriteSender {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, { readonly count: number; readonly resolve: (o: WriteOutcome[]) => void; readonly reject: (e: Error) => void }>();
  private watch: DeletionWatch | undefined;

  constructor(private readonly data: WriteWorkerData) {}

  /** Starts it now, so that the first write does not wait for it to load. */
  warm(): void {
    this.ensure();
  }

  send(data: Buffer, lengths: Uint32Array): Promise<WriteOutcome[]> {
    if (lengths.length === 0) return Promise.resolve([]);
    if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) return Promise.reject(new KubeRouterError(ErrorCode.Invalid, 'rtnetlink write worker: the messages must own their buffer'));
    const w = this.ensure();
    const id = this.nextId++;
    return new Promise<WriteOutcome[]>((resolve, reject) => {
      this.pending.set(id, { count: lengths.length, resolve, reject });
      w.ref();
      const req: ToWorker = { kind: 'write', id, data: data.buffer as ArrayBuffer, lengths };
      w.postMessage(req, [data.buffer as ArrayBuffer, lengths.buffer as ArrayBuffer]);
    });
  }

  /** Deletions of routes of `watch.protocol`, at most one call per burst; returns the stop function. */
  watchDeletions(watch: DeletionWatch): () => void {
    this.watch = watch;
    const msg: ToWorker = { kind: 'watch', protocol: watch.protocol };
    this.ensure().postMessage(msg);
    return () => {
      if (this.watch !== watch) return;
      this.watch = undefined;
      const stop: ToWorker = { kind: 'unwatch' };
      this.worker?.postMessage(stop);
    };
  }

  close(): void {
    const w = this.worker;
    this.worker = undefined;
    this.fail('closed');
    void w?.terminate();
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(new URL('./write-worker.js', import.meta.url), { workerData: this.data });
    w.unref();
    w.on('message', (r: WorkerReply) => this.onReply(w, r));
    w.on('error', (e) => {
      if (this.worker === w) this.fail(errorMessage(e));
    });
    w.on('exit', (code) => {
      if (this.worker === w) this.fail(`exited with code ${code}`);
    });
    this.worker = w;
    return w;
  }

  private onReply(w: Worker, r: WorkerReply): void {
    switch (r.kind) {
      case 'deleted':
        this.watch?.onDeleted();
        return;
      case 'watch-failed': {
        const watch = this.watch;
        this.watch = undefined;
        watch?.onFailed(r.error);
        return;
      }
      case 'written':
      case 'fatal': {
        const p = this.pending.get(r.id);
        if (!p) return;
        this.pending.delete(r.id);
        if (this.pending.size === 0) w.unref();
        if (r.kind === 'fatal') {
          p.reject(new KubeRouterError(ErrorCode.ToolFailed, r.error));
          return;
        }
        const out: WriteOutcome[] = new Array<undefined>(p.count).fill(undefined);
        for (const f of r.failures) out[f.index] = fromWire(f);
        p.resolve(out);
      }
    }
  }

  /** The worker ended: outstanding writes fail, a watch is told (it was lost with the worker). */
  private fail(why: string): void {
    this.worker = undefined;
    for (const p of this.pending.values()) p.reject(new KubeRouterError(ErrorCode.ToolFailed, `rtnetlink write worker: ${why}`));
    this.pending.clear();
    const watch = this.watch;
    this.watch = undefined;
    watch?.onFailed(`netlink worker: ${why}`);
  }
}

/** The worker's side: one socket, one requester, requests answered in order. */
export function serveWrites(socket: NetlinkSocket, post: (r: WorkerReply) => void): (req: Extract<ToWorker, { kind: 'write' }>) => Promise<void> {
  const requester = new NetlinkRequester(socket, { maxInFlight: RTNL_WINDOW, replyTimeoutMs: REPLY_TIMEOUT_MS, what: 'rtnetlink' });
  return async (req) => {
    try {
      const outcomes = await requester.batch(cut(Buffer.from(req.data), req.lengths).map(preEncoded));
      const failures: WireFailure[] = [];
      outcomes.forEach((e, i) => {
        if (e) failures.push(toWire(i, e));
      });
      post({ kind: 'written', id: req.id, failures });
    } catch (e) {
      post({ kind: 'fatal', id: req.id, error: `rtnetlink write worker: ${errorMessage(e)}` });
    }
  };
}
