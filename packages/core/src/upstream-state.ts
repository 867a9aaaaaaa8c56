/**
 * The state of the link to QEMU (upstream.ts), as the proxy, plugins (ProxyApi.upstreamState) and
 * metrics (Observer.upstreamState) see it:
 * idle -> connecting -> negotiating -> ready -> (lost) -> connecting … ; closed at shutdown.
 */
export type UpstreamState = 'idle' | 'connecting' | 'negotiating' | 'ready' | 'closed';
