/**
 * The container runtime the lab plays (as its kubelet does the kubelet's part): a CRI
 * `RuntimeService` over gRPC on a unix socket that answers `ContainerStatus` for the containers it
 * knows, with the verbose `info` a real runtime gives (a JSON document with the container's `pid`).
 * A lab pod's "container" is the process serving it in the pod's network namespace.
 */
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { criPackage, CRI_SERVICE, type ContainerStatusRequest, type ContainerStatusResponse } from '../pkg/cri/api.js';

export class LabContainerRuntime {
  private readonly server = new Server();
  private readonly containers = new Map<string, number>();
  /** Every container id asked about, in order (tests read it). */
  readonly asked: string[] = [];

  /** `lookup`, when given, names a container's process instead of the containers set here (the lab reads its state). */
  constructor(
    private readonly socketPath: string,
    private readonly lookup?: (containerId: string) => number | undefined,
  ) {
    const def = criPackage()[CRI_SERVICE];
    const impl: UntypedServiceImplementation = {
      ContainerStatus: (call: ServerUnaryCall<ContainerStatusRequest, ContainerStatusResponse>, cb: sendUnaryData<ContainerStatusResponse>) => {
        const id = call.request.container_id;
        this.asked.push(id);
        const pid = this.lookup?.(id) ?? this.containers.get(id);
        if (pid === undefined) return cb({ code: status.NOT_FOUND, details: `container ${JSON.stringify(id)} not found` }, null);
        cb(null, { status: { id, state: 1 }, info: call.request.verbose ? { info: JSON.stringify({ pid, sandboxID: `sandbox-${id}` }) } : {} });
      },
    };
    this.server.addService(def as Parameters<Server['addService']>[0], impl);
  }

  setContainer(id: string, pid: number): void {
    this.containers.set(id, pid);
  }

  removeContainer(id: string): void {
    this.containers.delete(id);
  }

  start(): Promise<void> {
    return new Promise((resolve, reject) => this.server.bindAsync(`unix://${this.socketPath}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())));
  }

  stop(): Promise<void> {
    return new Promise((resolve) => this.server.tryShutdown(() => resolve()));
  }
}

/** `node dist/lab/cri-runtime.js --dir LABDIR`: the lab's runtime, serving LABDIR/cri.sock from its state (pods' container ids and processes). */
async function main(): Promise<void> {
  const dir = process.argv[process.argv.indexOf('--dir') + 1];
  if (!dir || process.argv.indexOf('--dir') < 0) throw new Error('usage: cri-runtime --dir LABDIR');
  const stateFile = join(dir, 'state.json');
  const runtime = new LabContainerRuntime(criSocket(dir), (id) => {
    const st = JSON.parse(readFileSync(stateFile, 'utf8')) as { pods?: { containerId?: string; pid?: number }[] };
    return st.pods?.find((p) => p.containerId === id)?.pid;
  });
  rmSync(criSocket(dir), { force: true });
  await runtime.start();
  process.stdout.write('ready\n');
  const stop = (): void => void runtime.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

export function criSocket(dir: string): string {
  return join(dir, 'cri.sock');
}

if (process.argv[1]?.endsWith('cri-runtime.js')) {
  main().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  });
}
