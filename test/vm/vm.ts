/**
 * A throwaway VM with Debian's kernel, for what this machine's kernel lacks (IPVS, ipip, fou, dummy):
 * docs/testing.md "The VM". QEMU with software emulation boots the installed linux-image-amd64 with a
 * busybox initramfs of ours that loads virtio/9p/overlay, mounts the host's root read-only over 9p with
 * a tmpfs overlay on top, and runs one shell job in a chroot. A second, writable 9p share brings the
 * job in and its log and exit status out. The VM has no network interface at all (`-nic none`).
 */
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { realExec } from '../../pkg/linux/exec.js';

/** Modules the initramfs loads before it can mount anything (their dependencies come along). */
const BOOT_MODULES = ['kernel/drivers/virtio/virtio_pci.ko', 'kernel/net/9p/9pnet_virtio.ko', 'kernel/fs/9p/9p.ko', 'kernel/fs/overlayfs/overlay.ko'];

export interface VmKernel {
  readonly version: string;
  readonly image: string;
}

/** Debian's kernel, installed by scripts/setup.sh (linux-image-amd64); undefined when absent. */
export function findVmKernel(): VmKernel | undefined {
  const images = existsSync('/boot') ? readdirSync('/boot').filter((f) => /^vmlinuz-.*-amd64$/.test(f)).sort() : [];
  for (const image of images.reverse()) {
    const version = image.slice('vmlinuz-'.length);
    if (existsSync(`/lib/modules/${version}/modules.dep`)) return { version, image: `/boot/${image}` };
  }
  return undefined;
}

function moduleLoadOrder(version: string, wanted: readonly string[]): string[] {
  const deps = new Map<string, string[]>();
  for (const line of readFileSync(`/lib/modules/${version}/modules.dep`, 'utf8').split('\n')) {
    const [m, rest] = line.split(':');
    if (m) deps.set(m, (rest ?? '').trim().split(/\s+/).filter(Boolean));
  }
  const order: string[] = [];
  const visit = (m: string): void => {
    if (order.includes(m)) return;
    for (const d of deps.get(m) ?? []) visit(d);
    order.push(m);
  };
  for (const m of wanted) visit(m);
  return order;
}

const INIT = `#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod "/modules/$(basename "$m")" || echo "vm-init: insmod $m failed"; done
mkdir -p /lower /upper /newroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,ro host /lower || { echo "vm-init: cannot mount the host root"; poweroff -f; }
mount -t tmpfs -o size=1536m tmpfs /upper
mkdir -p /upper/u /upper/w
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w /newroot
mkdir -p /newroot/vmjob
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 job /newroot/vmjob
mount -t proc proc /newroot/proc
mount -t sysfs sys /newroot/sys
mount -t devtmpfs dev /newroot/dev
mkdir -p /newroot/dev/pts && mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs tmpfs /newroot/run
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup 2>/dev/null
printf '#!/bin/busybox sh\\nexec /bin/busybox chroot /newroot /sbin/modprobe "$@"\\n' > /bin/krt-modprobe
chmod +x /bin/krt-modprobe
echo /bin/krt-modprobe > /proc/sys/kernel/modprobe
chroot /newroot /bin/sh -c 'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root; ip link set lo up; ip route add 198.18.255.0/24 dev lo 2>/dev/null; cd /vmjob && exec sh job.sh' > /newroot/vmjob/log 2>&1
echo $? > /newroot/vmjob/rc
sync
poweroff -f
`;

/** Builds the initramfs (newc cpio) for one kernel version into `dir`. */
function buildInitramfs(kernel: VmKernel, dir: string): string {
  const root = join(dir, 'initramfs');
  for (const d of ['bin', 'modules', 'proc', 'sys', 'dev', 'lower', 'upper', 'newroot']) mkdirSync(join(root, d), { recursive: true });
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  symlinkSync('busybox', join(root, 'bin/sh'));
  const order = moduleLoadOrder(kernel.version, BOOT_MODULES);
  for (const m of order) copyFileSync(`/lib/modules/${kernel.version}/${m}`, join(root, 'modules', m.split('/').pop() as string));
  writeFileSync(join(root, 'modules.order'), order.join('\n') + '\n');
  writeFileSync(join(root, 'init'), INIT, { mode: 0o755 });
  const out = join(dir, 'initramfs.cpio');
  return out;
}

export interface VmResult {
  /** The job's exit status; undefined when the VM died or timed out before the job ended. */
  readonly rc: number | undefined;
  /** What the job printed (stdout and stderr). */
  readonly log: string;
  /** The console (kernel and init), for diagnosing a VM that did not run the job. */
  readonly console: string;
  readonly ms: number;
}

export interface VmOptions {
  /** Shell script run in the guest, as root, in a chroot of the host's root (overlaid, writable). */
  readonly job: string;
  readonly timeoutMs: number;
  /** Job output is also streamed here as it arrives (when given). */
  readonly onLog?: (chunk: string) => void;
  readonly memoryMiB?: number;
}

/** Boots the VM, runs the job, returns its outcome; the VM and its files are always removed. */
export async function runInVm(opts: VmOptions): Promise<VmResult> {
  const kernel = findVmKernel();
  if (!kernel) throw new Error('no Debian kernel in /boot (run scripts/setup.sh: it installs linux-image-amd64, qemu-system-x86 and busybox-static)');
  const dir = mkdtempSync(join(tmpdir(), 'krt-vm-'));
  try {
    const jobDir = join(dir, 'job');
    mkdirSync(jobDir);
    writeFileSync(join(jobDir, 'job.sh'), opts.job);
    const cpioPath = buildInitramfs(kernel, dir);
    await realExec().run(['sh', '-c', `cd "${join(dir, 'initramfs')}" && find . | cpio -o -H newc --quiet > "${cpioPath}"`]);
    const started = Date.now();
    const args = [
      ...['-accel', 'tcg,thread=multi', '-cpu', 'max', '-smp', '2', '-m', String(opts.memoryMiB ?? 2048), '-nic', 'none'],
      ...['-nographic', '-no-reboot', '-serial', 'stdio', '-monitor', 'none'],
      ...['-kernel', kernel.image, '-initrd', cpioPath, '-append', 'console=ttyS0 quiet panic=-1 rdinit=/init'],
      ...['-virtfs', 'local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap'],
      ...['-virtfs', `local,path=${jobDir},mount_tag=job,security_model=none,multidevs=remap`],
    ];
    const qemu = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let consoleText = '';
    qemu.stdout.on('data', (b: Buffer) => (consoleText += b.toString()));
    qemu.stderr.on('data', (b: Buffer) => (consoleText += b.toString()));
    // Stream the job's log while it runs (the share is a host directory).
    let shown = 0;
    const tail = setInterval(() => {
      if (!opts.onLog) return;
      try {
        const text = readFileSync(join(jobDir, 'log'), 'utf8');
        if (text.length > shown) {
          opts.onLog(text.slice(shown));
          shown = text.length;
        }
      } catch {
        // not there yet
      }
    }, 500);
    const exited = new Promise<void>((resolve) => qemu.on('close', () => resolve()));
    const timer = setTimeout(() => qemu.kill('SIGKILL'), opts.timeoutMs);
    await exited;
    clearTimeout(timer);
    clearInterval(tail);
    const log = existsSync(join(jobDir, 'log')) ? readFileSync(join(jobDir, 'log'), 'utf8') : '';
    if (opts.onLog && log.length > shown) opts.onLog(log.slice(shown));
    const rcText = existsSync(join(jobDir, 'rc')) ? readFileSync(join(jobDir, 'rc'), 'utf8').trim() : '';
    return { rc: rcText === '' ? undefined : Number(rcText), log, console: consoleText, ms: Date.now() - started };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
