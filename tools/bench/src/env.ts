/** The benchmarks' settings: numbers from the environment (`BENCH_N=300 npm run bench`), each with its default. */
export const env = (name: string, dflt: number): number => Number(process.env[name] ?? dflt);
