import { mkdirSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../sh.js';

/** Where `up` puts the lab cluster's certificates and keys (under the lab's state folder). */
export interface LabPki {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly saKey: string;
  readonly saPub: string;
}

export interface ClientCert {
  readonly cert: string;
  readonly key: string;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * A cluster CA, the API server's serving certificate (for its fabric address, the `kubernetes`
 * Service's first cluster IPs and its DNS names) and the ServiceAccount token signing key pair, made
 * with openssl at `lab up` (EC P-256: fast to make, accepted everywhere in Kubernetes).
 */
export async function makePki(dir: string, apiIP: string, serviceIPs: readonly string[]): Promise<LabPki> {
  mkdirSync(dir, { recursive: true });
  const p: LabPki = {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    serverCert: join(dir, 'apiserver.crt'),
    serverKey: join(dir, 'apiserver.key'),
    saKey: join(dir, 'sa.key'),
    saPub: join(dir, 'sa.pub'),
  };
  await run('openssl', 'req', '-x509', ...EC, '-keyout', p.caKey, '-out', p.caCert, '-days', '3650', '-subj', '/CN=kube-router-lab-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature');
  const sans = [`IP:${apiIP}`, 'IP:127.0.0.1', ...serviceIPs.map((ip) => `IP:${ip}`), 'DNS:kubernetes', 'DNS:kubernetes.default', 'DNS:kubernetes.default.svc', 'DNS:kubernetes.default.svc.cluster.local'];
  await run('openssl', 'req', '-x509', ...EC, '-CA', p.caCert, '-CAkey', p.caKey, '-keyout', p.serverKey, '-out', p.serverCert, '-days', '3650', '-subj', '/CN=kube-apiserver', '-addext', `subjectAltName=${sans.join(',')}`, '-addext', 'extendedKeyUsage=serverAuth', '-addext', 'basicConstraints=critical,CA:FALSE');
  await run('openssl', 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-out', p.saKey);
  await run('openssl', 'pkey', '-in', p.saKey, '-pubout', '-out', p.saPub);
  return p;
}

/** A client certificate: the API server takes CN as the user name and each O as a group. */
export async function clientCert(pki: LabPki, file: string, user: string, groups: readonly string[] = []): Promise<ClientCert> {
  const cert = join(pki.dir, `${file}.crt`);
  const key = join(pki.dir, `${file}.key`);
  if (!existsSync(cert)) {
    const subj = `/CN=${user}${groups.map((g) => `/O=${g}`).join('')}`;
    await run('openssl', 'req', '-x509', ...EC, '-CA', pki.caCert, '-CAkey', pki.caKey, '-keyout', key, '-out', cert, '-days', '3650', '-subj', subj, '-addext', 'extendedKeyUsage=clientAuth', '-addext', 'basicConstraints=critical,CA:FALSE');
  }
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

export function pkiPaths(dir: string): LabPki {
  return { dir, caCert: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key'), serverCert: join(dir, 'apiserver.crt'), serverKey: join(dir, 'apiserver.key'), saKey: join(dir, 'sa.key'), saPub: join(dir, 'sa.pub') };
}

/** A kubeconfig for a client certificate (kube-controller-manager, kubectl). */
export function kubeconfigYaml(server: string, pki: LabPki, certFile: string, keyFile: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: lab',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority: ${pki.caCert}`,
    'users:',
    '- name: lab',
    '  user:',
    `    client-certificate: ${certFile}`,
    `    client-key: ${keyFile}`,
    'contexts:',
    '- name: lab',
    '  context: {cluster: lab, user: lab}',
    'current-context: lab',
    '',
  ].join('\n');
}
