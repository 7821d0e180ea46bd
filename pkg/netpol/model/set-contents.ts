import { familyOf, type Family, type IP } from '../../util/ip.js';
import { matches } from '../../k8s/kinds/label-selector.js';
import type { SetSource } from './chains.js';
import type { NamespaceInfo } from '../../k8s/kinds/namespace.js';
import type { PodInfo } from '../../k8s/kinds/pod.js';
import type { PodSelection } from '../../k8s/kinds/network-policy.js';

interface SelectionEntry {
  readonly selection: PodSelection;
  /** Set names (any family) filled from this selection. */
  readonly sets: Set<string>;
}

interface SetEntry {
  readonly source: SetSource;
  readonly family: Family;
  /** Entry → how many pods contribute it (two pods may briefly share an IP). */
  readonly counts: Map<string, number>;
}


/**
 * The desired members of every ipset the firewall uses, kept current incrementally: a pod event
 * re-evaluates that one pod against the selections of its namespace and the namespace-selector ones;
 * a namespace relabel re-evaluates its pods; a new set is filled from the pods in its scope. Entries
 * whose presence may have changed are remembered ("touched") so a sync writes only those.
 */
export class SetContents {
  private readonly pods = new Map<string, PodInfo>();
  private readonly podsByNs = new Map<string, Set<string>>();
  /** This node's pods by namespace: the only ones a 'local' set (a policy's targets) can hold. */
  private readonly localPodsByNs = new Map<string, Set<string>>();
  private readonly namespaces = new Map<string, NamespaceInfo>();
  private readonly sets = new Map<string, SetEntry>();
  private readonly selections = new Map<string, SelectionEntry>();
  private readonly selectionsByNs = new Map<string, Set<string>>();
  private readonly nsSelectorSelections = new Set<string>();
  private readonly localPodSets = new Set<string>();
  private readonly vipSets = new Set<string>();
  /** Service key → its externalIPs and LoadBalancer IPs. */
  private readonly serviceVips = new Map<string, readonly string[]>();
  /** What each pod contributes: pod → set → entries. */
  private readonly contrib = new Map<string, Map<string, readonly string[]>>();
  private touched = new Map<string, Set<string>>();
  /** Sets created since the last takeTouched: written whole, so their entries need no tracking. */
  private fresh = new Set<string>();

  constructor(private readonly nodeName: string) {}

  /** Makes the set list exactly `wanted` (name → source and family); new sets are filled, gone ones dropped. */
  setSources(wanted: ReadonlyMap<string, { readonly source: SetSource; readonly family: Family }>): void {
    for (const [name, e] of [...this.sets]) {
      const w = wanted.get(name);
      if (w && JSON.stringify(w.source) === JSON.stringify(e.source)) continue;
      this.dropSet(name);
    }
    const fresh: string[] = [];
    for (const [name, w] of wanted) {
      if (this.sets.has(name)) continue;
      this.sets.set(name, { source: w.source, family: w.family, counts: new Map() });
      this.fresh.add(name);
      fresh.push(name);
      const src = w.source;
      if (src.kind === 'ipBlock') for (const e of src.entries) this.bump(name, e, 1);
      else if (src.kind === 'union') for (const m of src.members) this.bump(name, m, 1);
      else if (src.kind === 'local-pods') this.localPodSets.add(name);
      else if (src.kind === 'service-vips') {
        this.vipSets.add(name);
        for (const [k, ips] of this.serviceVips) this.addContribution(`svc:${k}`, name, ips.filter((ip) => familyOf(ip as IP) === w.family));
      } else {
        let sel = this.selections.get(src.key);
        if (!sel) {
          sel = { selection: src.selection, sets: new Set() };
          this.selections.set(src.key, sel);
          const ns = src.selection.namespaces;
          if (ns.kind === 'name') {
            const s = this.selectionsByNs.get(ns.name) ?? new Set<string>();
            s.add(src.key);
            this.selectionsByNs.set(ns.name, s);
          } else this.nsSelectorSelections.add(src.key);
        }
        sel.sets.add(name);
      }
    }
    // Fill the new pod-dependent sets from the pods in their scope.
    const bySel = new Map<string, string[]>();
    for (const name of fresh) {
      const src = (this.sets.get(name) as SetEntry).source;
      if (src.kind === 'selection' || src.kind === 'named') bySel.set(src.key, [...(bySel.get(src.key) ?? []), name]);
    }
    for (const [key, names] of bySel) {
      const sel = (this.selections.get(key) as SelectionEntry).selection;
      for (const pk of this.podsInScope(sel, names.every((n) => this.isLocalScope(n)))) {
        const pod = this.pods.get(pk) as PodInfo;
        if (!this.podMatches(sel, pod)) continue;
        for (const n of names) this.addContribution(pk, n, this.entriesFor(n, pod));
      }
    }
    for (const name of fresh) {
      if (!this.localPodSets.has(name)) continue;
      for (const [pk, pod] of this.pods) this.addContribution(pk, name, this.entriesFor(name, pod));
    }
  }

  setPod(key: string, pod: PodInfo | undefined): void {
    const old = this.pods.get(key);
    if (old) {
      this.podsByNs.get(old.namespace)?.delete(key);
      this.localPodsByNs.get(old.namespace)?.delete(key);
    }
    if (pod) {
      this.pods.set(key, pod);
      const index = (m: Map<string, Set<string>>): void => {
        const s = m.get(pod.namespace) ?? new Set<string>();
        s.add(key);
        m.set(pod.namespace, s);
      };
      index(this.podsByNs);
      if (pod.nodeName === this.nodeName) index(this.localPodsByNs);
    } else this.pods.delete(key);
    this.reevaluate(key);
  }

  setNamespace(name: string, ns: NamespaceInfo | undefined): void {
    const old = this.namespaces.get(name);
    if (ns) this.namespaces.set(name, ns);
    else this.namespaces.delete(name);
    if (old && ns && JSON.stringify(old.labels) === JSON.stringify(ns.labels)) return;
    if (this.nsSelectorSelections.size === 0) return;
    for (const pk of this.podsByNs.get(name) ?? []) this.reevaluate(pk);
  }

  /** A Service's externalIPs and LoadBalancer IPs; false when they did not change. */
  setServiceVips(key: string, ips: readonly string[] | undefined): boolean {
    const next = ips ?? [];
    if (JSON.stringify(this.serviceVips.get(key) ?? []) === JSON.stringify(next)) return false;
    if (next.length > 0) this.serviceVips.set(key, next);
    else this.serviceVips.delete(key);
    const owner = `svc:${key}`;
    for (const name of this.vipSets) {
      const family = (this.sets.get(name) as SetEntry).family;
      const c = this.contrib.get(owner);
      for (const e of c?.get(name) ?? []) this.bump(name, e, -1);
      c?.delete(name);
      if (c?.size === 0) this.contrib.delete(owner);
      this.addContribution(owner, name, next.filter((ip) => familyOf(ip as IP) === family));
    }
    return true;
  }

  /** The pod (not host-network) that has this address, if one does. Linear: for explain only. */
  podByIP(ip: string): PodInfo | undefined {
    for (const p of this.pods.values()) if (!p.hostNetwork && (p.ips as readonly string[]).includes(ip)) return p;
    return undefined;
  }

  /** A pod as last seen (explain). */
  pod(key: string): PodInfo | undefined {
    return this.pods.get(key);
  }

  /** Sorted members of one set (what `ipset save` should show). */
  entries(name: string): string[] {
    return [...(this.sets.get(name)?.counts.keys() ?? [])].sort();
  }

  /** Members of one set in no particular order, not copied. */
  unsortedEntries(name: string): Iterable<string> {
    return this.sets.get(name)?.counts.keys() ?? [];
  }

  has(name: string, entry: string): boolean {
    return (this.sets.get(name)?.counts.get(entry) ?? 0) > 0;
  }

  /** Entries whose presence may have changed since the last call, per set. */
  takeTouched(): Map<string, Set<string>> {
    const t = this.touched;
    this.touched = new Map();
    this.fresh = new Set();
    return t;
  }

  setNames(): string[] {
    return [...this.sets.keys()];
  }

  private dropSet(name: string): void {
    const e = this.sets.get(name);
    if (!e) return;
    this.sets.delete(name);
    this.touched.delete(name);
    this.fresh.delete(name);
    this.localPodSets.delete(name);
    this.vipSets.delete(name);
    if (e.source.kind === 'selection' || e.source.kind === 'named') {
      const key = e.source.key;
      const sel = this.selections.get(key);
      sel?.sets.delete(name);
      if (sel && sel.sets.size === 0) {
        this.selections.delete(key);
        this.nsSelectorSelections.delete(key);
        const ns = sel.selection.namespaces;
        if (ns.kind === 'name') this.selectionsByNs.get(ns.name)?.delete(key);
      }
    }
    for (const c of this.contrib.values()) c.delete(name);
  }

  /** A set that holds only this node's pods (a policy's targets). */
  private isLocalScope(setName: string): boolean {
    const src = this.sets.get(setName)?.source;
    return (src?.kind === 'selection' || src?.kind === 'named') && src.scope === 'local';
  }

  /** The pods a selection can hold, by namespace; with `localOnly`, this node's alone. */
  private podsInScope(sel: PodSelection, localOnly: boolean): Iterable<string> {
    const byNs = localOnly ? this.localPodsByNs : this.podsByNs;
    const ns = sel.namespaces;
    if (ns.kind === 'name') return byNs.get(ns.name) ?? [];
    const out: string[] = [];
    for (const [name, info] of this.namespaces) if (matches(ns.selector, info.labels)) out.push(...(byNs.get(name) ?? []));
    return out;
  }

  private podMatches(sel: PodSelection, pod: PodInfo): boolean {
    if (pod.hostNetwork) return false; // a host-network pod has the node's address: never a policy peer or target
    const ns = sel.namespaces;
    if (ns.kind === 'name') {
      if (ns.name !== pod.namespace) return false;
    } else {
      const info = this.namespaces.get(pod.namespace);
      if (!info || !matches(ns.selector, info.labels)) return false;
    }
    return matches(sel.pods, pod.labels);
  }

  private entriesFor(setName: string, pod: PodInfo): readonly string[] {
    const e = this.sets.get(setName);
    if (!e) return [];
    if ((e.source.kind === 'selection' || e.source.kind === 'named') && e.source.scope === 'local' && pod.nodeName !== this.nodeName) return [];
    // (a pod's addresses are all of one family but in dual-stack: then its own array, not a copy)
    const ips = pod.ips.every((ip) => familyOf(ip) === e.family) ? pod.ips : pod.ips.filter((ip) => familyOf(ip) === e.family);
    switch (e.source.kind) {
      case 'selection':
        return ips;
      case 'local-pods':
        return pod.nodeName === this.nodeName && !pod.hostNetwork ? ips : [];
      case 'named': {
        const { protocol, portName } = e.source;
        const ports = pod.namedPorts.filter((p) => p.name === portName && p.protocol === protocol).map((p) => p.port);
        return ips.flatMap((ip) => ports.map((port) => `${ip},${protocol}:${port}`));
      }
      case 'ipBlock':
      case 'union':
      case 'service-vips':
        return [];
    }
  }

  private reevaluate(key: string): void {
    const pod = this.pods.get(key);
    const next = new Map<string, readonly string[]>();
    if (pod) {
      const selKeys = [...(this.selectionsByNs.get(pod.namespace) ?? []), ...this.nsSelectorSelections];
      const local = pod.nodeName === this.nodeName;
      for (const sk of selKeys) {
        const sel = this.selections.get(sk) as SelectionEntry;
        // Another node's pod is never in a local set: a selection that fills only those is not matched.
        if (!local && [...sel.sets].every((n) => this.isLocalScope(n))) continue;
        if (!this.podMatches(sel.selection, pod)) continue;
        for (const n of sel.sets) {
          const es = this.entriesFor(n, pod);
          if (es.length > 0) next.set(n, es);
        }
      }
      for (const n of this.localPodSets) {
        const es = this.entriesFor(n, pod);
        if (es.length > 0) next.set(n, es);
      }
    }
    const old = this.contrib.get(key) ?? new Map<string, readonly string[]>();
    for (const [n, es] of old) for (const e of es) this.bump(n, e, -1);
    for (const [n, es] of next) for (const e of es) this.bump(n, e, 1);
    if (next.size > 0) this.contrib.set(key, next);
    else this.contrib.delete(key);
  }

  private addContribution(podKeyText: string, setName: string, entries: readonly string[]): void {
    if (entries.length === 0) return;
    let c = this.contrib.get(podKeyText);
    if (!c) {
      c = new Map();
      this.contrib.set(podKeyText, c);
    }
    const prev = c.get(setName) ?? [];
    for (const e of prev) this.bump(setName, e, -1);
    c.set(setName, entries);
    for (const e of entries) this.bump(setName, e, 1);
  }

  private bump(setName: string, entry: string, by: number): void {
    const s = this.sets.get(setName);
    if (!s) return;
    const n = (s.counts.get(entry) ?? 0) + by;
    if (n > 0) s.counts.set(entry, n);
    else s.counts.delete(entry);
    if (this.fresh.has(setName)) return;
    let t = this.touched.get(setName);
    if (!t) {
      t = new Set();
      this.touched.set(setName, t);
    }
    t.add(entry);
  }
}


