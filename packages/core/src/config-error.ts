/** A bad configuration value, named by its path (e.g. `plugins[1].options.rules[0].protocol`). */
export class ConfigError extends Error {
  readonly code = 'QMPMUX_BAD_CONFIG';
  constructor(
    readonly path: string,
    readonly problem: string,
  ) {
    super(`${path}: ${problem}`);
  }
}
