import type { Family } from '../../util/ip.js';

export type IpsetType = 'hash:ip' | 'hash:net' | 'hash:ip,port' | 'hash:ip,port,ip' | 'hash:ip,port,net' | 'hash:net,port' | 'list:set';

export interface IpsetSpec {
  readonly name: string;
  readonly type: IpsetType;
  readonly family: Family;
  /** Canonical entries as `ipset save` prints them (e.g. `198.18.0.1`, `198.18.0.0/24 nomatch`, `198.18.0.1,tcp:80`). */
  readonly entries: readonly string[];
}

/** One set as `ipset save` shows it. */
export interface SavedSet {
  readonly name: string;
  readonly type: string;
  readonly family: Family;
  readonly entries: readonly string[];
}

/** ipset through `ipset restore` / `ipset save`: the only way we write ipsets. */
export interface Ipset {
  /** `ipset -exist restore`; a failure throws `restore-failed` carrying the line. */
  restore(text: string): Promise<void>;
  /** Every set on the host (ours and others'), parsed. */
  save(): Promise<SavedSet[]>;
}

/** The kernel keeps set names under 32 bytes with the NUL (IPSET_MAXNAMELEN). */
export const IPSET_MAX_NAME = 31;
