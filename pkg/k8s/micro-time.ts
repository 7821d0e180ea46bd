/** A Kubernetes MicroTime (RFC 3339 with microseconds), as Lease renewTime and acquireTime carry. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
