import { stderrOf, type Exec } from './exec.js';
import type { IP } from '../util/ip.js';
import { familyOf } from '../util/ip.js';

export interface FlowFilter {
  readonly protocol: 'tcp' | 'udp' | 'sctp';
  /** The address the client dialled (a service frontend). */
  readonly origDst: IP;
  readonly origDport: number;
  /** The backend that answered. */
  readonly replySrc: IP;
}

/** Connection tracking entries: the only write is deleting flows to a backend that is gone. */
export interface Conntrack {
  deleteFlows(f: FlowFilter): Promise<void>;
}

export function realConntrack(exec: Exec): Conntrack {
  return {
    async deleteFlows(f) {
      const argv = ['conntrack', '-D', '-f', familyOf(f.origDst) === 4 ? 'ipv4' : 'ipv6', '-p', f.protocol, '--orig-dst', f.origDst, '--dport', String(f.origDport), '--reply-src', f.replySrc];
      // conntrack exits 1 when nothing matched: that is not an error here.
      await exec.run(argv).catch((e: unknown) => {
        if (!/0 flow entries have been deleted/.test(stderrOf(e))) throw e;
      });
    },
  };
}

/** Records deletions, for tests. */
export class FakeConntrack implements Conntrack {
  readonly deleted: FlowFilter[] = [];
  deleteFlows(f: FlowFilter): Promise<void> {
    this.deleted.push(f);
    return Promise.resolve();
  }
}
