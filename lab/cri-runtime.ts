/**
 * The container runtime the lab plays (as its kubelet does the kubelet's part): a CRI
 * `RuntimeService` over gRPC on a unix socket that answers `ContainerStatus` for the containers it
 * knows, with the verbose `info` a real runtime gives (a JSON document with the container's `pid`).
 * A lab pod's "container" is the process serving it in the pod's network namespace.
 */
import { Server, ServerCredentials, status, type sendUnaryData, type ServerUnaryCall, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { criPackage, CRI_SERVICE, type ContainerStatusRequest, type ContainerStatusResponse } from '../pkg/cri/api.js';

export class LabContainerRuntime {
  private readonly server = new Server();
  private readonly containers = new Map<string, number>();
  /** Every container id asked about, in order (tests read it). */
  readonly asked: string[] = [];

  constructor(private readonly socketPath: string) {
    const def = criPackage()[CRI_SERVICE];
    const impl: UntypedServiceImplementation = {
      ContainerStatus: (call: ServerUnaryCall<ContainerStatusRequest, ContainerStatusResponse>, cb: sendUnaryData<ContainerStatusResponse>) => {
        const id = call.request.container_id;
        this.asked.push(id);
        const pid = this.containers.get(id);
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
