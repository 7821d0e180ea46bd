import type { Exec } from './exec.js';

/** Kernel parameters (`/proc/sys`), written through `sysctl -w`: one adapter so controllers never exec it themselves. */
export interface Sysctl {
  /**
   * Sets each `[name, value]` in one process. A key the kernel lacks (a module not loaded) does not stop
   * the others; the promise rejects after all were tried when any failed.
   */
  set(pairs: readonly (readonly [string, string])[]): Promise<void>;
}

export class RealSysctl implements Sysctl {
  constructor(private readonly exec: Exec) {}

  async set(pairs: readonly (readonly [string, string])[]): Promise<void> {
    if (pairs.length === 0) return;
    await this.exec.run(['sysctl', '-qw', ...pairs.map(([k, v]) => `${k}=${v}`)]);
  }
}

/** The fake: a map of keys, with a set of keys this "kernel" lacks. */
export class FakeSysctl implements Sysctl {
  readonly values = new Map<string, string>();
  writes = 0;

  constructor(private readonly missing: ReadonlySet<string> = new Set()) {}

  set(pairs: readonly (readonly [string, string])[]): Promise<void> {
    const absent: string[] = [];
    for (const [k, v] of pairs) {
      if (this.missing.has(k)) absent.push(k);
      else {
        this.values.set(k, v);
        this.writes++;
      }
    }
    return absent.length > 0 ? Promise.reject(new Error(`sysctl: cannot stat /proc/sys/${absent[0]?.replace(/\./g, '/') ?? ''}`)) : Promise.resolve();
  }
}
