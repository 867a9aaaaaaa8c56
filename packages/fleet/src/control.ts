/**
 * The control socket: a QMP monitor for the fleet itself (core's LocalMonitor: QEMU's greeting shape,
 * negotiation, framing and argument texts), with
 *   __org.qmpmux_query-vms   → [{ name, origin, upstream, state, version?, clients, listeners }]
 *   __org.qmpmux_add-vm      { name, upstream, listen, plugins?, limits? }  (a vms[] entry) → the new VM's entry
 *   __org.qmpmux_remove-vm   { name } → {}
 * listed in its query-commands and query-qmp-schema.
 */
import { COMMAND_PREFIX, ConfigError, LocalMonitor, answer, ownCommand, parseVmEntry, refuse, type JsonPlain, type Logger, type OwnCommand, type OutputBudget, type VmConfig } from '@qmpmux/core';
import { FleetError, type Fleet, type RunningVm } from './fleet.ts';
import type { VmSpec } from './vm-spec.ts';

/** What the control socket does to the VMs: a Fleet's (fleetControl), or VMs in threads'. */
export interface ControlVms {
  /** Every VM as query-vms shows it (vmInfo). */
  info(): Promise<JsonPlain[]>;
  /** Start one VM; its query-vms entry. Throws FleetError with the refusal. */
  add(spec: VmSpec): Promise<JsonPlain>;
  /** Stop one VM; false when there is none. */
  remove(name: string, why: string): Promise<boolean>;
}

/** The control socket's view of a Fleet in this thread. */
export function fleetControl(fleet: Fleet): ControlVms {
  return {
    info: async () => fleet.list().map(vmInfo),
    add: async (spec) => vmInfo(await fleet.add(spec)),
    remove: (name, why) => fleet.remove(name, why),
  };
}

export interface ControlOptions {
  vms: ControlVms;
  /** An add-vm entry resolved against the top-level settings (vm-spec.ts specOf, origin `control`). */
  spec(entry: VmConfig): VmSpec;
  /** A VM was removed through the socket (discovery then leaves its socket alone until it changes). */
  onRemoved?(name: string): void;
  /** FleetLimits.maxControlClients. */
  maxClients: number;
  /** qmpmux's version, for the greeting and query-version. */
  version: string;
  /** The process-wide output budget (the control socket's clients count against it too). */
  outputBudget?: OutputBudget;
  log: Logger;
}

const VERSION_INFO = { qemu: { major: 'int', minor: 'int', micro: 'int' }, package: 'str' } as const;
const VM_INFO = {
  name: 'str',
  origin: 'str',
  upstream: 'str',
  state: 'str',
  '*version': VERSION_INFO,
  clients: 'int',
  listeners: ['str'],
  /** With VM threads: the one that runs the VM (0…threads-1). */
  '*thread': 'int',
} as const;

/** A VM as query-vms shows it. */
export function vmInfo(vm: RunningVm): JsonPlain {
  const p = vm.proxy;
  const info: Record<string, JsonPlain> = {
    name: p.name,
    origin: vm.spec.origin,
    upstream: p.upstreamAddress,
    state: p.upstreamState,
    clients: p.clients.size,
    listeners: [...p.listenerAddresses],
  };
  if (p.upstreamVersion !== undefined) info.version = p.upstreamVersion;
  return info;
}

export function controlCommands(o: ControlOptions): OwnCommand[] {
  return [
    ownCommand({
      name: `${COMMAND_PREFIX}query-vms`,
      returns: [VM_INFO],
      run: async () => answer(await o.vms.info()),
    }),
    ownCommand({
      name: `${COMMAND_PREFIX}add-vm`,
      data: { name: 'str', upstream: 'str', listen: ['str'], '*plugins': [{ name: 'str', '*options': 'any' }], '*limits': 'any' },
      returns: VM_INFO,
      run: async (args) => {
        let spec: VmSpec;
        try {
          spec = o.spec(parseVmEntry(args, 'arguments'));
        } catch (e) {
          if (e instanceof ConfigError) return refuse('VM_INVALID', e.message);
          throw e;
        }
        try {
          return answer(await o.vms.add(spec));
        } catch (e) {
          if (e instanceof FleetError) return e.refusal;
          throw e;
        }
      },
    }),
    ownCommand({
      name: `${COMMAND_PREFIX}remove-vm`,
      data: { name: 'str' },
      run: async (args) => {
        if (!(await o.vms.remove(args.name, 'removed through the control socket'))) return refuse('VM_NOT_FOUND', args.name);
        o.onRemoved?.(args.name);
        return answer({});
      },
    }),
  ];
}

/** Open the control socket (unix, 0600). */
export async function startControl(address: string, o: ControlOptions): Promise<LocalMonitor> {
  const [major = 0, minor = 0, micro = 0] = o.version.split(/[.-]/).map((x) => Number(x) || 0);
  const monitor = new LocalMonitor({ commands: controlCommands(o), version: { qemu: { major, minor, micro }, package: `qmpmux ${o.version}` }, maxClients: o.maxClients, outputBudget: o.outputBudget, log: o.log });
  await monitor.start([address]);
  return monitor;
}
