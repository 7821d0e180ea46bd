/**
 * What to do about a malformed message (RFC 7606 section 2): reset the session with a NOTIFICATION,
 * treat the UPDATE's routes as withdrawn, or drop one attribute and go on.
 */
export type ErrorHandling = 'session-reset' | 'treat-as-withdraw' | 'attribute-discard';

export class BgpDecodeError extends Error {
  override readonly name = 'BgpDecodeError';
  constructor(
    /** NOTIFICATION error code and subcode to send when the handling is a session reset. */
    readonly code: number,
    readonly subcode: number,
    message: string,
    readonly handling: ErrorHandling = 'session-reset',
    /** NOTIFICATION data (often the offending bytes). */
    readonly data: Uint8Array = new Uint8Array(0),
  ) {
    super(message);
  }
}
