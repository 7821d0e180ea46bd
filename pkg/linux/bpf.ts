/** A classic BPF instruction: opcode, jump-if-true, jump-if-false (relative to the next), constant. */
export type BpfInsn = readonly [code: number, jt: number, jf: number, k: number];

/** A classic BPF program as SO_ATTACH_FILTER takes it: 8-byte `struct sock_filter`s, host order. */
export function bpfProgram(insns: readonly BpfInsn[]): Buffer {
  const b = Buffer.alloc(insns.length * 8);
  insns.forEach(([code, jt, jf, k], i) => {
    b.writeUInt16LE(code, i * 8);
    b.writeUInt8(jt, i * 8 + 2);
    b.writeUInt8(jf, i * 8 + 3);
    b.writeUInt32LE(k >>> 0, i * 8 + 4);
  });
  return b;
}
