import { resolve } from 'node:path';
import { DIST } from '../lab/dist.js';

/** dist/ of this build (tests run from compiled JavaScript). */
export { DIST };
export const KUBE_ROUTER_BIN = resolve(DIST, 'cmd/kube-router.js');
export const FIXTURE_BIN = resolve(DIST, "fixture/apiserver/main.js");
/** kube-network-policies' evaluator behind a line protocol (scripts/knp-eval/build.sh, run by setup). */
export const KNP_EVAL_BIN = resolve(DIST, '../.cache/knp-eval/kube-network-policies-v0.8.0/bin/knp-eval');
