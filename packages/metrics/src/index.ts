export { MetricsRegistry } from './metrics.ts';
export { startHttp, parseHostPort, type HttpEndpoint, type HttpOptions } from './http.ts';
