export { MetricsRegistry, fleetMetricsHooks, mergedMetrics, type MetricsJson } from './metrics.ts';
export { startHttp, parseHostPort, notReadyOf, type HttpEndpoint, type HttpOptions, type MetricsSource, type NotReady } from './http.ts';
