/**
 * @qmpmux/fleet: many VMs in one qmpmux process (docs/fleet.md). The CLI assembles a Fleet from the
 * config, follows a discovery directory with Discovery, and opens the control socket with startControl.
 */
export { Fleet, FleetError, checkAdd, checkSync, emptyReport, oneAtATime, type FleetOptions, type RunningVm, type SyncReport } from './fleet.ts';
export { Discovery, type DiscoveryOptions } from './discovery.ts';
export { LinkWatch, type LinkWatchOptions } from './link-watch.ts';
export { startControl, controlCommands, fleetControl, vmInfo, type ControlOptions, type ControlVms } from './control.ts';
export { specOf, settingsOf, discoveredEntry, difference, heldListeners, checkListenersFree, type VmSpec, type VmOrigin, type FleetSettings } from './vm-spec.ts';
