/** The shape of one command-line flag, as spf13/pflag models it upstream. */
export const FlagGroup = {
  General: 'General',
  Router: 'Router (BGP, pod networking, CNI)',
  Proxy: 'Service proxy',
  Firewall: 'Firewall (NetworkPolicy)',
  LoadBalancer: 'LoadBalancer IP allocator',
  Ours: 'Additions of kube-router-ts',
  Deprecated: 'Accepted for old manifests (deprecated)',
} as const;
export type FlagGroup = (typeof FlagGroup)[keyof typeof FlagGroup];

interface Base {
  readonly name: string;
  readonly group: FlagGroup;
  readonly usage: string;
  readonly short?: string;
  /** Printed once as a warning when the flag is used. */
  readonly deprecated?: string;
  /** Accepted for upstream's manifests but not implemented: what happens instead (warned at start, marked in --help). */
  readonly notImplemented?: string;
}

export type FlagSpec =
  | (Base & { readonly kind: 'bool'; readonly default: boolean })
  | (Base & { readonly kind: 'string'; readonly default: string })
  | (Base & { readonly kind: 'uint'; readonly default: number; readonly max: number })
  | (Base & { readonly kind: 'duration'; readonly default: number })
  | (Base & { readonly kind: 'stringSlice'; readonly default: readonly string[] })
  | (Base & { readonly kind: 'uintSlice'; readonly default: readonly number[] });


export type FlagValue =
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'uint'; readonly value: number }
  | { readonly kind: 'duration'; readonly value: number }
  | { readonly kind: 'stringSlice'; readonly value: readonly string[] }
  | { readonly kind: 'uintSlice'; readonly value: readonly number[] };
