/**
 * Who may run which HMP command. User rules are tried in order and the first that matches the principal
 * and the command decides; when none matches, the default applies: a destructive command (DESTRUCTIVE)
 * is refused unless the principal is an operator, anything else is allowed. The default can be turned
 * off (`destructiveDefault: false`), leaving everything no rule denies allowed.
 */
import { matchHmpName, normalizeHmpName } from '@qmpmux/audit-log';

/**
 * HMP commands refused by default to non-operators (QEMU 7.2 names; aliases resolve before matching):
 * those that end or reset the VM, lose or overwrite guest state or disks, change its devices, storage,
 * network or credentials, write host files, or open endpoints on the host. Reading state (`info …`,
 * `x`, `print`) and pausing (`stop`, `cont`) are not on it.
 */
export const DESTRUCTIVE: readonly string[] = [
  // end, reset or corrupt the running VM
  'quit', 'system_reset', 'system_powerdown', 'loadvm', 'nmi', 'mce', 'o', 'pcie_aer_inject_error', 'watchdog_action', 'x_colo_lost_heartbeat', 'replay_seek',
  // move it away
  'migrate', 'migrate_incoming', 'migrate_recover', 'migrate_pause', 'client_migrate_info',
  // snapshots and disks
  'savevm', 'delvm', 'snapshot_blkdev', 'snapshot_blkdev_internal', 'snapshot_delete_blkdev_internal', 'commit', 'block_resize', 'block_stream',
  'drive_add', 'drive_del', 'drive_mirror', 'drive_backup', 'change', 'eject', 'qemu-io',
  // devices, objects, backends
  'device_add', 'device_del', 'object_add', 'object_del', 'qom-set', 'chardev-add', 'chardev-change', 'chardev-remove', 'netdev_add', 'netdev_del',
  // host files and endpoints, credentials
  'dump-guest-memory', 'memsave', 'pmemsave', 'screendump', 'wavcapture', 'logfile', 'gdbserver', 'hostfwd_add', 'hostfwd_remove',
  'nbd_server_start', 'nbd_server_add', 'nbd_server_remove', 'nbd_server_stop', 'set_password', 'expire_password',
];

export interface Rule {
  /** Named in refusals and records; `rules[i]` unless the config names it. */
  name: string;
  action: 'allow' | 'deny';
  /** Normalized HMP names or patterns (`quit`, `info *`, `*`). */
  commands: string[];
  /** Principals the rule applies to; undefined = everyone. `*` in the list matches everyone too. */
  principals?: string[];
}

export interface PolicyOptions {
  rules: Rule[];
  operators: string[];
  unauthenticatedIsOperator: boolean;
  destructiveDefault: boolean;
}

export interface Decision {
  allowed: boolean;
  rule: string;
}

export const DEFAULT_RULE = { destructive: 'default:destructive', operator: 'default:operator', allow: 'default:allow' } as const;

export class Policy {
  private readonly destructive = new Set(DESTRUCTIVE);
  private readonly operators: Set<string>;

  constructor(private readonly opts: PolicyOptions) {
    this.operators = new Set(opts.operators);
  }

  isOperator(principal: string | undefined): boolean {
    return principal === undefined ? this.opts.unauthenticatedIsOperator : this.operators.has(principal);
  }

  decide(principal: string | undefined, name: string): Decision {
    for (const r of this.opts.rules) {
      if (r.principals && !r.principals.includes('*') && (principal === undefined || !r.principals.includes(principal))) continue;
      if (!r.commands.some((p) => matchHmpName(p, name))) continue;
      return { allowed: r.action === 'allow', rule: r.name };
    }
    if (this.opts.destructiveDefault && this.destructive.has(name)) {
      return this.isOperator(principal) ? { allowed: true, rule: DEFAULT_RULE.operator } : { allowed: false, rule: DEFAULT_RULE.destructive };
    }
    return { allowed: true, rule: DEFAULT_RULE.allow };
  }
}

export { normalizeHmpName };
