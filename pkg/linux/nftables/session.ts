import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { ErrorCode, KubeRouterError } from '../../util/errors.js';
import type { NftCounter, NftFamily, Nftables, NftTableState } from './types.js';

/** Scripts larger than this go through `nft -f -` (interactive input is read line by line). */
const MAX_INTERACTIVE_BYTES = 256 * 1024;
const TIMEOUT_MS = 30_000;

/**
 * One long-lived `nft -i` that applies small transactions without a process start and a cache reload
 * each (docs/performance.md: every `nft` process reloads its cache). A script is sent as one input
 * line, commands joined by `;`, which nft applies as one transaction. Each transaction is followed by
 * a sentinel command that must fail (`list table` of a name no one uses) and names its sequence
 * number: its error marks where the transaction's own error output ends. Large scripts, reads, and any
 * transaction while the session is unusable go to the wrapped one-shot implementation.
 */
export class NftSession implements Nftables {
  private child: ChildProcessWithoutNullStreams | undefined;
  private stderr = '';
  private seq = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private waiter: (() => void) | undefined;

  constructor(
    private readonly oneShot: Nftables,
    /** e.g. [] on a node, or ['ip', 'netns', 'exec', NS] in tests. */
    private readonly argvPrefix: readonly string[] = [],
  ) {}

  private start(): ChildProcessWithoutNullStreams {
    const argv = [...this.argvPrefix, 'nft', '-i'];
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString('utf8');
      this.waiter?.();
    });
    child.stdout.on('data', () => undefined);
    child.on('exit', () => {
      if (this.child === child) this.child = undefined;
      this.waiter?.();
    });
    child.stdin.on('error', () => undefined);
    this.child = child;
    return child;
  }

  apply(script: string): Promise<void> {
    const run = this.queue.then(() => this.applyNow(script));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async applyNow(script: string): Promise<void> {
    const lines = script.split('\n');
    const numbered = lines.map((l, i) => ({ text: l.trim(), n: i + 1 })).filter((l) => l.text !== '' && !l.text.startsWith('#'));
    const commands = numbered.map((c) => c.text);
    if (commands.length === 0) return;
    const line = commands.join(' ; ');
    if (line.length > MAX_INTERACTIVE_BYTES) return this.oneShot.apply(script);
    const child = this.child ?? this.start();
    const seq = ++this.seq;
    const sentinel = `list table ip krt-sentinel-${process.pid}-${seq}`;
    this.stderr = '';
    child.stdin.write(`${line}\n${sentinel}\n`);
    const end = Date.now() + TIMEOUT_MS;
    // Done when the sentinel's whole error block is in: its echo line and the caret line under it
    // (they can arrive in separate chunks; a late caret line must not count against the next one).
    const blockEnd = (): number => {
      const at = this.stderr.indexOf(`\n${sentinel}\n`);
      return at < 0 ? -1 : this.stderr.indexOf('\n', at + sentinel.length + 2);
    };
    while (blockEnd() < 0) {
      if (this.child !== child) throw new KubeRouterError(ErrorCode.ToolFailed, `nft -i exited: ${this.stderr.trim().slice(0, 300)}`);
      if (Date.now() > end) {
        child.kill('SIGKILL');
        this.child = undefined;
        throw new KubeRouterError(ErrorCode.Timeout, `nft -i gave no answer within ${TIMEOUT_MS} ms`);
      }
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 1000);
      });
    }
    const at = this.stderr.indexOf(`\n${sentinel}\n`);
    const before = this.stderr.slice(0, this.stderr.lastIndexOf('Error:', at));
    this.stderr = this.stderr.slice(blockEnd() + 1);
    if (before.trim() !== '') {
      // nft echoes the input line with carets under the failing command: its column says which one.
      const errLines = before.split('\n');
      const echo = errLines.indexOf(line);
      const caret = echo >= 0 ? (errLines[echo + 1] ?? '').search(/[\^~]/) : -1;
      const index = caret >= 0 ? line.slice(0, caret).split(' ; ').length - 1 : -1;
      const failing = numbered[index];
      throw new KubeRouterError(ErrorCode.RestoreFailed, `nft transaction failed${failing ? ` at line ${failing.n}` : ''}: ${before.trim().split('\n')[0] ?? ''}`, { stderr: before, failingLine: failing?.text, line: failing?.n });
    }
  }

  /**
   * Starts `nft -i` and has it read one small set of the table, which loads its view of the table:
   * measured at 10k services, the first transaction of a fresh session 75 ms, after this 5 ms
   * (listing all sets instead would print every element: 2.5 s).
   */
  prepare(family: NftFamily, table: string, smallSet: string): Promise<void> {
    const run = this.queue.then(() => this.applyNow(`list set ${family} ${table} ${smallSet}`)).catch(() => undefined);
    this.queue = run;
    return run;
  }

  dump(family: NftFamily, table: string): Promise<NftTableState | undefined> {
    return this.oneShot.dump(family, table);
  }
  listTables(): Promise<{ family: NftFamily; name: string }[]> {
    return this.oneShot.listTables();
  }
  listSet(family: NftFamily, table: string, set: string): Promise<string[] | undefined> {
    return this.oneShot.listSet(family, table, set);
  }
  listSetCounters(family: NftFamily, table: string, set: string): Promise<ReadonlyMap<string, NftCounter> | undefined> {
    return this.oneShot.listSetCounters(family, table, set);
  }

  close(): void {
    this.child?.stdin.end();
    this.child?.kill();
    this.child = undefined;
  }
}
