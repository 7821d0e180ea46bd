import type { ControllerFactory } from './daemon.js';

/** Controller factories that exist in this build. */
export function availableControllers(): Partial<Record<'router' | 'proxy' | 'firewall', ControllerFactory>> {
  return {};
}
