import type { KubeRouterConfig } from '../options/config.js';
import type { ControllerFactory } from './daemon.js';

/**
 * The controllers enabled by --run-router, --run-service-proxy and --run-firewall, in upstream's start
 * order. Each controller package contributes its factory here as it lands.
 */
export function enabledControllers(config: KubeRouterConfig, available: Partial<Record<'router' | 'proxy' | 'firewall' | 'loadbalancer', ControllerFactory>>): ControllerFactory[] {
  const out: ControllerFactory[] = [];
  if (config.runRouter && available.router) out.push(available.router);
  if (config.runServiceProxy && available.proxy) out.push(available.proxy);
  if (config.runFirewall && available.firewall) out.push(available.firewall);
  if (config.runLoadBalancer && available.loadbalancer) out.push(available.loadbalancer);
  return out;
}
