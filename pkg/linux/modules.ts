import { access } from 'node:fs/promises';
import type { Exec } from './exec.js';

/** Kernel modules: loaded where the host lets us (`modprobe`; the DaemonSet mounts /lib/modules), probed through /sys/module. */
export interface KernelModules {
  /** Tries to load each module; a module that cannot be loaded is not an error (`present` tells). */
  load(names: readonly string[]): Promise<void>;
  /** Whether a module is loaded or built in (`/sys/module/NAME` exists). */
  present(name: string): Promise<boolean>;
}

export class RealKernelModules implements KernelModules {
  constructor(
    private readonly exec: Exec,
    private readonly sysModule = '/sys/module',
  ) {}

  async load(names: readonly string[]): Promise<void> {
    for (const m of names) await this.exec.run(['modprobe', m]).catch(() => undefined);
  }

  present(name: string): Promise<boolean> {
    return access(`${this.sysModule}/${name}`).then(
      () => true,
      () => false,
    );
  }
}

/** The fake: modules present from the start, and those a `load` can bring in. */
export class FakeKernelModules implements KernelModules {
  readonly present_: Set<string>;
  readonly loadAttempts: string[] = [];

  constructor(present: Iterable<string> = [], private readonly loadable: ReadonlySet<string> = new Set()) {
    this.present_ = new Set(present);
  }

  load(names: readonly string[]): Promise<void> {
    for (const m of names) {
      this.loadAttempts.push(m);
      if (this.loadable.has(m)) this.present_.add(m);
    }
    return Promise.resolve();
  }

  present(name: string): Promise<boolean> {
    return Promise.resolve(this.present_.has(name));
  }
}
