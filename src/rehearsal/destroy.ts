/**
 * Resources the emulator cannot delete: removed from state before `cdktf destroy` (said in the
 * output), matched by resource type against the allowlist's destroyStateRemoval entries.
 */
import { DestroyStateRemoval } from '../infra/emulator';

export interface StateRemoval {
  readonly address: string;
  readonly reason: string;
}

/** The addresses of a `terraform state list` whose type the emulator cannot destroy, with the reason. */
export function destroyStateRemovals(addresses: readonly string[], allowlist: readonly DestroyStateRemoval[]): StateRemoval[] {
  return addresses.flatMap((address) => {
    if (address.startsWith('data.')) return [];
    const gap = allowlist.find((e) => e.type === address.split('.')[0]);
    return gap === undefined ? [] : [{ address, reason: gap.reason }];
  });
}
