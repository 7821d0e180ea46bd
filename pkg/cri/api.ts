/**
 * The part of the Kubernetes CRI (`runtime.v1.RuntimeService`) kube-router calls, as a protobuf JSON
 * descriptor: field names and numbers as the CRI API defines them; fields we do not read are left out
 * (protobuf skips unknown fields). Shared by our client and the lab's runtime.
 */
import { fromJSON, type PackageDefinition } from '@grpc/proto-loader';

export const CRI_SERVICE = 'runtime.v1.RuntimeService';

const DESCRIPTOR = {
  nested: {
    runtime: {
      nested: {
        v1: {
          nested: {
            RuntimeService: {
              methods: {
                ContainerStatus: { requestType: 'ContainerStatusRequest', responseType: 'ContainerStatusResponse' },
              },
            },
            ContainerStatusRequest: {
              fields: { container_id: { type: 'string', id: 1 }, verbose: { type: 'bool', id: 2 } },
            },
            ContainerStatusResponse: {
              fields: { status: { type: 'ContainerStatus', id: 1 }, info: { keyType: 'string', type: 'string', id: 2 } },
            },
            ContainerStatus: {
              fields: { id: { type: 'string', id: 1 }, state: { type: 'int32', id: 3 } },
            },
          },
        },
      },
    },
  },
};

/** The wire shapes (snake_case field names kept). */
export interface ContainerStatusRequest {
  readonly container_id: string;
  readonly verbose: boolean;
}
export interface ContainerStatusResponse {
  readonly status?: { readonly id?: string; readonly state?: number };
  readonly info?: Readonly<Record<string, string>>;
}

export function criPackage(): PackageDefinition {
  // (protobufjs's declared JSON types lack map fields' keyType and mark comments required; the runtime reads this form)
  return fromJSON(DESCRIPTOR as unknown as Parameters<typeof fromJSON>[0], { keepCase: true, defaults: false, longs: Number });
}
