#!/usr/bin/env -S node --max-semi-space-size=4
/**
 * kube-router: the only place that may exit the process. Exit status: 0 done, 1 runtime failure,
 * 2 usage error.
 */
import { realNetlinkSockets } from '../pkg/linux/genl/socket.js';
import { openIpvs } from '../pkg/linux/ipvs/real.js';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { loadConfig } from '../pkg/options/load-config.js';
import { renderHelp, renderUsageErrors } from '../pkg/options/help.js';
import { KubeTransport } from '../pkg/k8s/transport.js';
import { ResolvedKubeConfig } from '../pkg/k8s/resolved-kubeconfig.js';
import { realExec } from '../pkg/linux/exec.js';
import { cleanupAll } from '../pkg/daemon/cleanup.js';
import { enabledControllers } from '../pkg/daemon/controllers.js';
import { Daemon } from '../pkg/daemon/daemon.js';
import { realKernel } from '../pkg/linux/adapters.js';
import { availableControllers } from '../pkg/daemon/available.js';
import { systemClock } from '../pkg/util/clock.js';
import { errorMessage } from '../pkg/util/errors.js';
import { createLogger } from '../pkg/util/logger.js';
import { readVersion } from '../pkg/version.js';
import { inspectCommand, isInspectCommand } from './inspect.js';

async function main(argv: readonly string[]): Promise<number> {
  const version = readVersion();
  if (isInspectCommand(argv)) return inspectCommand(argv, process.env, (s) => process.stdout.write(s));
  const r = loadConfig(argv, { env: process.env, hostname, readFile: (p) => readFileSync(p, 'utf8') });
  switch (r.kind) {
    case 'help':
      process.stdout.write(renderHelp(version) + '\n');
      return 0;
    case 'version':
      process.stdout.write(`kube-router-ts ${version} (node ${process.version})\n`);
      return 0;
    case 'usage-error':
      process.stderr.write(renderUsageErrors(r.issues) + '\n');
      return 2;
    case 'run':
      break;
  }
  const config = r.config;
  const logger = createLogger({ verbosity: config.verbosity });
  for (const w of r.warnings) logger.warn(w);
  const exec = realExec();

  if (config.cleanupConfig) {
    const kernel = await realKernel(exec, logger);
    return (await cleanupAll(kernel, logger, () => openIpvs(realNetlinkSockets()))) ? 0 : 1;
  }
  if (!config.runRouter && !config.runServiceProxy && !config.runFirewall && !config.runLoadBalancer) {
    process.stderr.write(renderUsageErrors([{ message: 'nothing to run: --run-router, --run-service-proxy, --run-firewall and --run-loadbalancer are all false' }]) + '\n');
    return 2;
  }

  const clock = systemClock();
  const transport = new KubeTransport(new ResolvedKubeConfig({ kubeconfig: config.kubeconfig, master: config.master }));
  const kernel = await realKernel(exec, logger);
  const daemon = new Daemon({ config, transport, kernel, clock, logger, version, controllers: enabledControllers(config, availableControllers()) });
  logger.info('starting kube-router', { version, node: config.nodeName, api: transport.server });

  let stopping = false;
  const stopped = new Promise<number>((resolve) => {
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info('stopping: kernel state is left in place', { signal });
      daemon.stop().then(
        () => resolve(0),
        (e: unknown) => {
          logger.error('stop failed', { error: errorMessage(e) });
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
  // The process policy: a controller's faults are contained in it (its runner retries with backoff; one
  // object or one BGP session has its own fault boundary). Anything that still escapes to here is a
  // fault of the daemon itself: log it and exit 1, so the DaemonSet restarts a clean process rather
  // than one in an unknown state. Kernel state is left in place, so traffic keeps flowing.
  const fatal = (what: string) => (e: unknown): void => {
    logger.error(`${what}: exiting so that a clean process takes over`, { error: errorMessage(e), stack: e instanceof Error ? (e.stack ?? '') : '' });
    process.exit(1);
  };
  process.on('unhandledRejection', fatal('unhandled rejection'));
  process.on('uncaughtException', fatal('uncaught exception'));

  try {
    await daemon.start();
    const p = daemon.boundPorts();
    logger.info('kube-router running', { healthPort: p.health, metricsPort: p.metrics });
  } catch (e) {
    logger.error('start failed', { error: errorMessage(e) });
    await daemon.stop().catch(() => undefined);
    return 1;
  }
  return stopped;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`kube-router: ${errorMessage(e)}\n`);
    process.exit(1);
  },
);
