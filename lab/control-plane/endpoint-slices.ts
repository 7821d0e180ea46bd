import type { FixtureStore, JsonObject, StoredEvent } from '../../fixture/apiserver/store.js';
import { metaOf } from '../../fixture/apiserver/store.js';
import { resourceByKind } from '../../fixture/apiserver/resources.js';
import { asArray, asNumber, asRecord, asString } from '../../pkg/util/json.js';

const SVC = resourceByKind('Service')!;
const POD = resourceByKind('Pod')!;
const SLICE = resourceByKind('EndpointSlice')!;

function podReady(p: JsonObject): boolean {
  const st = asRecord(p['status']);
  return asArray(st?.['conditions']).some((c) => asRecord(c)?.['type'] === 'Ready' && asRecord(c)?.['status'] === 'True');
}

function selects(selector: Record<string, unknown> | undefined, labels: Record<string, unknown>): boolean {
  if (!selector || Object.keys(selector).length === 0) return false;
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/**
 * Stand-in for the EndpointSlice controller (a lab fixture): one slice per Service and address
 * family, listing the selected pods with their readiness, node and named ports resolved per pod.
 */
export function runEndpointSliceController(store: FixtureStore): () => void {
  const reconcile = (ns: string): void => {
    const pods = store.list(POD, ns);
    for (const svc of store.list(SVC, ns)) {
      const meta = metaOf(svc);
      const name = asString(meta['name']) as string;
      const spec = asRecord(svc['spec']);
      const selector = asRecord(spec?.['selector']) as Record<string, unknown> | undefined;
      if (!selector || asString(spec?.['type']) === 'ExternalName') continue;
      for (const family of ['IPv4', 'IPv6'] as const) {
        const sliceName = `${name}-lab-${family === 'IPv4' ? '4' : '6'}`;
        const endpoints: JsonObject[] = [];
        const ports = new Map<string, JsonObject>();
        for (const p of pods) {
          const pm = metaOf(p);
          if (!selects(selector, (asRecord(pm['labels']) ?? {}))) continue;
          if (pm['deletionTimestamp'] !== undefined && !podReady(p)) continue;
          const ips = asArray(asRecord(p['status'])?.['podIPs']).map((x) => asString(asRecord(x)?.['ip']) ?? '');
          const ip = ips.find((x) => (family === 'IPv4' ? !x.includes(':') : x.includes(':')) && x !== '');
          if (!ip) continue;
          const containerPorts = asArray(asRecord(p['spec'])?.['containers']).flatMap((c) => asArray(asRecord(c)?.['ports']).map(asRecord));
          for (const sp of asArray(spec?.['ports'])) {
            const s = asRecord(sp);
            const tp = s?.['targetPort'] ?? s?.['port'];
            const num = typeof tp === 'number' ? tp : asNumber(containerPorts.find((cp) => cp?.['name'] === tp)?.['containerPort']);
            if (num === undefined) continue;
            const pname = asString(s?.['name']) ?? '';
            ports.set(`${pname}/${num}`, { name: pname, port: num, protocol: asString(s?.['protocol']) ?? 'TCP' });
          }
          const ready = podReady(p);
          endpoints.push({ addresses: [ip], conditions: { ready, serving: ready, terminating: pm['deletionTimestamp'] !== undefined }, nodeName: asString(asRecord(p['spec'])?.['nodeName']), targetRef: { kind: 'Pod', namespace: ns, name: pm['name'] } });
        }
        const want: JsonObject = {
          metadata: { name: sliceName, namespace: ns, labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'lab' }, annotations: { 'endpoints.kubernetes.io/last-change-trigger-time': new Date().toISOString() } },
          addressType: family,
          endpoints,
          ports: [...ports.values()],
        };
        const cur = store.get(SLICE, ns, sliceName);
        if (endpoints.length === 0 && !cur) continue;
        if (!cur) store.create(SLICE, ns, want);
        else if (JSON.stringify(cur['endpoints']) !== JSON.stringify(endpoints) || JSON.stringify(cur['ports']) !== JSON.stringify(want['ports'])) {
          store.update(SLICE, ns, { ...want, metadata: { ...(want['metadata'] as JsonObject), resourceVersion: metaOf(cur)['resourceVersion'] } });
        }
      }
    }
    // Slices of deleted services.
    for (const s of store.list(SLICE, ns)) {
      const sm = metaOf(s);
      const owner = asString(asRecord(sm['labels'])?.['kubernetes.io/service-name']);
      if (asString(asRecord(sm['labels'])?.['endpointslice.kubernetes.io/managed-by']) === 'lab' && owner && !store.get(SVC, ns, owner)) store.delete(SLICE, ns, asString(sm['name']) as string);
    }
  };
  let busy = false;
  return store.subscribe((e: StoredEvent) => {
    if (busy || (e.plural !== 'pods' && e.plural !== 'services')) return;
    busy = true;
    try {
      reconcile(asString(metaOf(e.object)['namespace']) ?? 'default');
    } finally {
      busy = false;
    }
  });
}
