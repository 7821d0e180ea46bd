import type { KubeObject } from '../object.js';
import { asArray, asRecord, asString, asNumber } from '../../util/json.js';
import { tryParseIP, tryParsePort, familyOf, type Family, type IP, type Port } from '../../util/ip.js';

import type { Protocol } from './protocol.js';

export interface Endpoint {
  readonly ip: IP;
  readonly port: Port;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly nodeName?: string;
  readonly zone?: string;
  /** hints.forZones (the EndpointSlice controller sets them for PreferSameZone / PreferClose / PreferSameNode). */
  readonly hintZones?: readonly string[];
  /** hints.forNodes (set for PreferSameNode). */
  readonly hintNodes?: readonly string[];
  /** targetRef of kind Pod: `namespace/name` (DSR finds the pod's network namespace through it). */
  readonly pod?: string;
}


export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
/** Hints read per endpoint (the API allows 8 zones; a hostile slice gets no more). */
const MAX_HINTS = 8;
export const TRIGGER_TIME_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';

export interface SlicePort {
  readonly name: string;
  readonly port: number;
  readonly protocol: Protocol;
}

export interface ParsedSlice {
  /** `namespace/service` this slice belongs to. */
  readonly serviceKey: string;
  readonly family: Family;
  readonly ports: readonly SlicePort[];
  readonly endpoints: readonly Omit<Endpoint, 'port'>[];
  readonly triggerTimeMs?: number;
  readonly problems: readonly string[];
}

export type SliceParse = { readonly kind: 'slice'; readonly slice: ParsedSlice } | { readonly kind: 'skipped'; readonly reason: string };

/** An EndpointSlice as the proxy sees it. FQDN slices and slices of no service are skipped. */
export function parseEndpointSlice(o: KubeObject): SliceParse {
  const svc = o.metadata.labels[SERVICE_NAME_LABEL];
  if (svc === undefined) return { kind: 'skipped', reason: 'no kubernetes.io/service-name label' };
  const at = asString(o.raw['addressType']);
  if (at !== 'IPv4' && at !== 'IPv6') return { kind: 'skipped', reason: `addressType ${at ?? 'missing'}` };
  const family: Family = at === 'IPv4' ? 4 : 6;
  const problems: string[] = [];
  const ports: SlicePort[] = [];
  for (const x of asArray(o.raw['ports'])) {
    const r = asRecord(x);
    const port = tryParsePort(asNumber(r?.['port']));
    const protocol = asString(r?.['protocol']) ?? 'TCP';
    if (!port || (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'SCTP')) {
      problems.push(`port ${JSON.stringify(x)} is not usable`);
      continue;
    }
    ports.push({ name: asString(r?.['name']) ?? '', port, protocol });
  }
  const endpoints: Omit<Endpoint, 'port'>[] = [];
  for (const x of asArray(o.raw['endpoints'])) {
    const r = asRecord(x);
    // Like kube-proxy: the first address is the endpoint's.
    const ip = tryParseIP(asString(asArray(r?.['addresses'])[0]) ?? '');
    if (!ip || familyOf(ip) !== family) {
      problems.push(`endpoint address ${JSON.stringify(asArray(r?.['addresses'])[0])} is not an ${at} address`);
      continue;
    }
    const c = asRecord(r?.['conditions']);
    // Unset ready means ready (API semantics); serving defaults to ready; terminating to false.
    const ready = c?.['ready'] !== false;
    const serving = c?.['serving'] === undefined ? ready : c['serving'] !== false;
    const terminating = c?.['terminating'] === true;
    const nodeName = asString(r?.['nodeName']);
    const zone = asString(r?.['zone']);
    const h = asRecord(r?.['hints']);
    const names = (field: string): string[] => asArray(h?.[field]).map((z) => asString(asRecord(z)?.['name']) ?? '').filter((z) => z !== '').slice(0, MAX_HINTS);
    const hintZones = names('forZones');
    const hintNodes = names('forNodes');
    const ref = asRecord(r?.['targetRef']);
    const refName = asString(ref?.['name']);
    const pod = asString(ref?.['kind']) === 'Pod' && refName ? `${asString(ref?.['namespace']) ?? o.metadata.namespace ?? 'default'}/${refName}` : undefined;
    endpoints.push({ ip, ready, serving, terminating, ...(pod ? { pod } : {}), ...(nodeName ? { nodeName } : {}), ...(zone ? { zone } : {}), ...(hintZones.length > 0 ? { hintZones } : {}), ...(hintNodes.length > 0 ? { hintNodes } : {}) });
  }
  const tt = o.metadata.annotations[TRIGGER_TIME_ANNOTATION];
  const ttMs = tt ? Date.parse(tt) : NaN;
  return {
    kind: 'slice',
    slice: { serviceKey: `${o.metadata.namespace ?? 'default'}/${svc}`, family, ports, endpoints, ...(Number.isFinite(ttMs) ? { triggerTimeMs: ttMs } : {}), problems },
  };
}
