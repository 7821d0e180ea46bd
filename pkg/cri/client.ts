/**
 * A CRI client for what DSR needs: the PID of a container's process (to enter its network namespace),
 * from `ContainerStatus` with `verbose`, whose `info["info"]` is the runtime's JSON with a `pid` (the
 * form containerd and CRI-O both give). Every call has a deadline; a runtime that does not answer is
 * an error for that pod, never a hang.
 */
import { credentials, makeGenericClientConstructor, type ServiceError } from '@grpc/grpc-js';
import { ErrorCode, KubeRouterError } from '../util/errors.js';
import { criPackage, CRI_SERVICE, type ContainerStatusRequest, type ContainerStatusResponse } from './api.js';

const DEADLINE_MS = 5_000;

export interface ContainerRuntime {
  containerPid(containerId: string): Promise<number>;
  close(): void;
}

/** `unix:///run/containerd/containerd.sock`, `unix:/path` or a bare socket path → a gRPC target. */
export function criTarget(endpoint: string): string {
  if (endpoint.startsWith('unix://')) return `unix://${endpoint.slice('unix://'.length)}`;
  if (endpoint.startsWith('unix:')) return `unix://${endpoint.slice('unix:'.length)}`;
  if (endpoint.startsWith('/')) return `unix://${endpoint}`;
  throw new KubeRouterError(ErrorCode.Invalid, `--runtime-endpoint ${JSON.stringify(endpoint)}: only unix sockets are supported`);
}

/** `containerd://abc…` (a Pod's containerStatuses[].containerID) → `abc…`. */
export function containerIdOf(ref: string): string {
  const i = ref.indexOf('://');
  return i >= 0 ? ref.slice(i + 3) : ref;
}

type Unary<Req, Res> = (req: Req, opts: { deadline: Date }, cb: (err: ServiceError | null, res?: Res) => void) => void;

export function openCri(endpoint: string): ContainerRuntime {
  const def = criPackage()[CRI_SERVICE];
  if (!def || !('ContainerStatus' in def)) throw new KubeRouterError(ErrorCode.Invalid, 'CRI descriptor has no RuntimeService');
  const Ctor = makeGenericClientConstructor(def, 'RuntimeService');
  const client = new Ctor(criTarget(endpoint), credentials.createInsecure());
  // (methods of a generic client are added at run time, by name)
  const containerStatus = (client['ContainerStatus'] as Unary<ContainerStatusRequest, ContainerStatusResponse>).bind(client);
  return {
    containerPid: (containerId) =>
      new Promise<number>((resolve, reject) => {
        containerStatus({ container_id: containerId, verbose: true }, { deadline: new Date(Date.now() + DEADLINE_MS) }, (err, res) => {
          if (err) return reject(new KubeRouterError(ErrorCode.ToolFailed, `CRI ContainerStatus ${containerId}: ${err.message}`));
          const text = res?.info?.['info'];
          let pid: unknown;
          try {
            pid = text ? (JSON.parse(text) as { pid?: unknown }).pid : undefined;
          } catch {
            pid = undefined;
          }
          if (typeof pid !== 'number' || !Number.isInteger(pid) || pid <= 1) return reject(new KubeRouterError(ErrorCode.NotFound, `CRI ContainerStatus ${containerId}: no process id in its verbose info`));
          resolve(pid);
        });
      }),
    close: () => client.close(),
  };
}
