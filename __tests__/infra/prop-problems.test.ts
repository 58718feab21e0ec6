import { TerraformVariable, Testing, TerraformStack } from 'cdktf';
import { PropProblems } from '../../src/infra/prop-problems';

describe('PropProblems', () => {
  test('reports every problem at once, each with prop, rule and received value', () => {
    const p = new PropProblems('Thing "x"').integer('shardCount', 0, 1, 500).environment('environment', 'Dev_1').arn('keyArn', 'arn:aws:s3:::b', 'kms');
    expect(() => p.throwIfAny()).toThrow(
      'Thing "x": invalid props:\n - shardCount must be an integer from 1 to 500; received 0\n' +
        ' - environment must be lowercase alphanumeric, start with a letter, at most 8 characters; received "Dev_1"\n' +
        ' - keyArn must be an kms ARN (arn:aws:kms:...); received "arn:aws:s3:::b"',
    );
  });

  test('skips a rule whose value is an unresolved token: Terraform knows it only at plan time', () => {
    const stack = new TerraformStack(Testing.app(), 'S');
    const account = new TerraformVariable(stack, 'account_id', { type: 'string' });
    expect(() => new PropProblems('Thing').accountId('accountId', account.stringValue).throwIfAny()).not.toThrow();
    expect(() => new PropProblems('Thing').accountId('accountId', '12345').throwIfAny()).toThrow(/accountId must be a 12-digit AWS account id; received "12345"/);
  });

  test('passes valid values', () => {
    expect(() => new PropProblems('Thing').integer('n', 4, 1, 500).region('region', 'eu-central-2').accountId('a', '123456789012').throwIfAny()).not.toThrow();
  });
});
