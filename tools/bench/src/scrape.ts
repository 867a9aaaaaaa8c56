/** Reading qmpmux's /metrics from the benchmarks: one scrape, a series' value, a steady scraper. */
import http from 'node:http';

const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

/** GET a URL's body (keep-alive, as Prometheus scrapes). */
export function get(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve(body));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** The sum of every sample of `name` whose labels include all of `labels` (`k="v"` pairs). */
export function sumSeries(text: string, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const close = rest.indexOf('} ');
    const labelText = rest[0] === '{' ? rest.slice(1, close) : '';
    if (!want.every((w) => labelText.split(',').includes(w))) continue;
    sum += Number(rest.slice(rest[0] === '{' ? close + 2 : 1));
  }
  return sum;
}

/** Scrape `url` `perSecond` times a second until stopped; returns the stop function and a count. */
export function scrapeSteadily(url: string, perSecond: number): { stop(): Promise<number>; bytes(): number } {
  let n = 0;
  let bytes = 0;
  let inflight: Promise<unknown> = Promise.resolve();
  const t = setInterval(() => {
    inflight = get(url).then((b) => {
      n++;
      bytes = b.length;
    });
  }, 1000 / perSecond);
  return {
    async stop() {
      clearInterval(t);
      await inflight;
      return n;
    },
    bytes: () => bytes,
  };
}
