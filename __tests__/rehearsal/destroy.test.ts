import { DestroyStateRemoval } from '../../src/infra/emulator';
import { destroyStateRemovals } from '../../src/rehearsal/destroy';

const ALLOWLIST: DestroyStateRemoval[] = [{ type: 'aws_backup_vault', reason: 'the emulator cannot list recovery points' }];

describe('state removals before destroy', () => {
  it('name every resource of an allowlisted type, whatever its address, with the reason', () => {
    const list = ['aws_backup_vault.Database_BackupVault_55D38B4E', 'aws_backup_plan.Database_BackupPlan_1', 'aws_kinesis_stream.Stream_2'];
    expect(destroyStateRemovals(list, ALLOWLIST)).toEqual([{ address: 'aws_backup_vault.Database_BackupVault_55D38B4E', reason: 'the emulator cannot list recovery points' }]);
  });

  it('never remove a resource of another type, nor a data source', () => {
    expect(destroyStateRemovals(['aws_backup_vault_policy.P', 'data.aws_backup_vault.V'], ALLOWLIST)).toEqual([]);
  });
});
