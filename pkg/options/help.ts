import { formatGoDuration } from './duration.js';
import { FlagGroup, type FlagSpec } from './flag-spec.js';
import { ALL_FLAGS } from './flags.js';

function defaultText(s: FlagSpec): string {
  switch (s.kind) {
    case 'bool':
      return String(s.default);
    case 'string':
      return JSON.stringify(s.default);
    case 'uint':
      return String(s.default);
    case 'duration':
      return formatGoDuration(s.default);
    case 'stringSlice':
    case 'uintSlice':
      return `[${s.default.join(',')}]`;
  }
}

const VALUE_HINT: Readonly<Record<FlagSpec['kind'], string>> = {
  bool: '',
  string: ' string',
  uint: ' uint',
  duration: ' duration',
  stringSlice: ' strings',
  uintSlice: ' uints',
};

/** `--help`: every flag grouped by controller, with its default. */
export function renderHelp(version: string): string {
  const lines = [
    `kube-router ${version}: service proxy, pod network and NetworkPolicy firewall for Kubernetes nodes.`,
    '',
    'Usage: kube-router [flags]',
    '',
  ];
  for (const group of Object.values(FlagGroup)) {
    const flags = ALL_FLAGS.filter((f) => f.group === group);
    if (flags.length === 0) continue;
    lines.push(`${group}:`);
    for (const f of flags) {
      const head = `  ${f.short ? `-${f.short}, ` : '    '}--${f.name}${VALUE_HINT[f.kind]}`;
      lines.push(`${head.padEnd(50)} ${f.usage} (default ${defaultText(f)})${f.notImplemented ? ` [accepted, not implemented: ${f.notImplemented}]` : ''}`);
    }
    lines.push('');
  }
  lines.push('Environment: NODE_NAME (node name), KUBE_ROUTER_CNI_CONF_FILE (default /etc/cni/net.d/10-kuberouter.conf), KUBE_ROUTER_SOCKET (default /var/run/kube-router/kube-router.sock; KUBE_ROUTER_BGP_SOCKET is its earlier name): the local inspection socket `kube-router bgp peers|routes`, `kube-router proxy services [NS/NAME]`, `kube-router routes` and `kube-router netpol explain --from NS/POD|IP --to NS/POD|IP --port PORT[/PROTO]` read (each with --json).');
  return lines.join('\n');
}

export function renderUsageErrors(issues: readonly { message: string }[]): string {
  return [...issues.map((i) => `kube-router: ${i.message}`), "Run 'kube-router --help' for the flags and their forms."].join('\n');
}
