/** The API's transport protocols, as Services, EndpointSlices, Pods and NetworkPolicies spell them. */
export type Protocol = 'TCP' | 'UDP' | 'SCTP';

export type PolicyProtocol = 'tcp' | 'udp' | 'sctp';

/** The API's protocol names (Pod container ports and NetworkPolicy ports use the same ones). */
export const API_PROTOCOLS: Readonly<Record<string, PolicyProtocol>> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };
