import type { IP } from '../util/ip.js';

/** RFC 5881: single-hop sessions on UDP 3784; RFC 5883: multihop sessions on 4784. */
export const BFD_SINGLE_HOP_PORT = 3784;
export const BFD_MULTIHOP_PORT = 4784;

/** Where one session's packets go and come from. */
export interface BfdPath {
  readonly local: IP;
  readonly remote: IP;
  /** The destination port (and the one we receive on). */
  readonly port: number;
  /** single: TTL 255 sent and required on receipt (RFC 5881 5); multi: TTL 255 sent, any received. */
  readonly hop: 'single' | 'multi';
}

/** A session's sending socket (its own source port, RFC 5881 4). */
export interface BfdLink {
  send(packet: Buffer): void;
  close(): void;
}

/** Datagrams that passed the socket's TTL check, with the sender and the port they came to. */
export type BfdReceiver = (data: Buffer, from: IP, port: number) => void;

/**
 * The kernel side of BFD: sending sockets per session, and one receiving socket per family and port,
 * open while a session uses it. With no session open, no socket is.
 */
export interface BfdTransport {
  /** Throws a KubeRouterError when the path cannot be opened (address not on the node, port taken). */
  open(path: BfdPath, receive: BfdReceiver): BfdLink;
  /** Closes every socket. */
  close(): void;
}
