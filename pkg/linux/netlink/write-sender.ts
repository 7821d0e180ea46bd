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

export interface WorkerRequest {
  readonly id: number;
  /** The messages back to back; `lengths` cuts them apart. */
  readonly data: ArrayBuffer;
  readonly lengths: Uint32Array;
}

export type WorkerReply = { readonly id: number; readonly failures: readonly WireFailure[] } | { readonly id: number; readonly fatal: string };

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

/**
 * Sends from a worker thread (write-worker.ts), started at once (a worker takes a few hundred
 * milliseconds to load: not on the first route's time) and again on the next write after it ended.
 * The worker holds the process open only while a write is outstanding.
 */
export function workerWriteSender(data: WriteWorkerData): WriteSender {
  let worker: Worker | undefined;
  let nextId = 1;
  const pending = new Map<number, { readonly count: number; readonly resolve: (o: WriteOutcome[]) => void; readonly reject: (e: Error) => void }>();
  const fail = (why: string): void => {
    worker = undefined;
    for (const p of pending.values()) p.reject(new KubeRouterError(ErrorCode.ToolFailed, `rtnetlink write worker: ${why}`));
    pending.clear();
  };
  const start = (): Worker => {
    const w = new Worker(new URL('./write-worker.js', import.meta.url), { workerData: data });
    w.unref();
    w.on('message', (r: WorkerReply) => {
      const p = pending.get(r.id);
      if (!p) return;
      pending.delete(r.id);
      if (pending.size === 0) w.unref();
      if ('fatal' in r) {
        p.reject(new KubeRouterError(ErrorCode.ToolFailed, r.fatal));
        return;
      }
      const out: WriteOutcome[] = new Array<undefined>(p.count).fill(undefined);
      for (const f of r.failures) out[f.index] = fromWire(f);
      p.resolve(out);
    });
    w.on('error', (e) => {
      if (worker === w) fail(errorMessage(e));
    });
    w.on('exit', (code) => {
      if (worker === w) fail(`exited with code ${code}`);
    });
    return w;
  };
  worker = start();
  return {
    send(data, lengths) {
      if (lengths.length === 0) return Promise.resolve([]);
      if (data.byteOffset !== 0 || data.byteLength !== data.buffer.byteLength) return Promise.reject(new KubeRouterError(ErrorCode.Invalid, 'rtnetlink write worker: the messages must own their buffer'));
      const w = (worker ??= start());
      const id = nextId++;
      return new Promise<WriteOutcome[]>((resolve, reject) => {
        pending.set(id, { count: lengths.length, resolve, reject });
        w.ref();
        const req: WorkerRequest = { id, data: data.buffer as ArrayBuffer, lengths };
        w.postMessage(req, [data.buffer as ArrayBuffer, lengths.buffer as ArrayBuffer]);
      });
    },
    close() {
      const w = worker;
      worker = undefined;
      fail('closed');
      void w?.terminate();
    },
  };
}

/** The worker's side: one socket, one requester, requests answered in order. */
export function serveWrites(socket: NetlinkSocket, post: (r: WorkerReply) => void): (req: WorkerRequest) => Promise<void> {
  const requester = new NetlinkRequester(socket, { maxInFlight: RTNL_WINDOW, replyTimeoutMs: REPLY_TIMEOUT_MS, what: 'rtnetlink' });
  return async (req) => {
    try {
      const outcomes = await requester.batch(cut(Buffer.from(req.data), req.lengths).map(preEncoded));
      const failures: WireFailure[] = [];
      outcomes.forEach((e, i) => {
        if (e) failures.push(toWire(i, e));
      });
      post({ id: req.id, failures });
    } catch (e) {
      post({ id: req.id, fatal: `rtnetlink write worker: ${errorMessage(e)}` });
    }
  };
}
