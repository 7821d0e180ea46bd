#!/usr/bin/env node
/**
 * Resolves a kubeconfig with client-node's KubeConfig (every auth method it knows: certificates,
 * tokens, token files, exec and OIDC plugins) and prints what a connection needs as JSON. Run as a
 * short-lived child by resolved-kubeconfig.ts, so the daemon itself never loads client-node's
 * generated API (~75 MiB resident).
 *   node dist/cmd/kubeconfig-resolve.js [--kubeconfig FILE] [--master URL]
 */
import { KubeConfig } from '@kubernetes/client-node';
import type { RequestOptions } from 'node:https';

const args = process.argv.slice(2);
const opt = (n: string): string => (args.includes(n) ? (args[args.indexOf(n) + 1] ?? '') : '');
const kubeconfig = opt('--kubeconfig');
const master = opt('--master');

const kc = new KubeConfig();
if (kubeconfig !== '') kc.loadFromFile(kubeconfig);
else if (master !== '' && !process.env['KUBERNETES_SERVICE_HOST']) kc.loadFromClusterAndUser({ name: 'master', server: master, skipTLSVerify: false }, { name: 'anonymous' });
else kc.loadFromCluster();
if (master !== '') {
  const cluster = kc.getCurrentCluster();
  if (cluster) kc.loadFromOptions({ clusters: kc.clusters.map((c) => (c.name === cluster.name ? { ...c, server: master } : c)), users: kc.users, contexts: kc.contexts, currentContext: kc.currentContext });
}
const cluster = kc.getCurrentCluster();
if (!cluster) {
  process.stderr.write('no Kubernetes cluster configured: pass --kubeconfig or --master, or run in a pod\n');
  process.exit(1);
}
const o: RequestOptions & { headers?: Record<string, unknown> } = {};
await kc.applyToHTTPSOptions(o);
const b64 = (v: unknown): string | undefined => (v === undefined || v === null ? undefined : Buffer.from(v as Buffer).toString('base64'));
const user = kc.getCurrentUser();
const provider = user?.authProvider as { name?: string; config?: Record<string, string> } | undefined;
process.stdout.write(
  JSON.stringify({
    server: cluster.server,
    skipTLSVerify: cluster.skipTLSVerify === true,
    ca: b64(o.ca),
    cert: b64(o.cert),
    key: b64(o.key),
    servername: o.servername,
    headers: o.headers ?? {},
    basicAuth: o.auth,
    tokenFile: provider?.name === 'tokenFile' ? provider.config?.['tokenFile'] : undefined,
  }) + '\n',
);
