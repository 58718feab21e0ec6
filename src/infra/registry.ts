import { Construct } from 'constructs';
import { EcrLifecyclePolicy } from '@cdktf/provider-aws/lib/ecr-lifecycle-policy';
import { EcrRepository } from '@cdktf/provider-aws/lib/ecr-repository';
import { ManagedKey } from './keys';

/** Images kept per repository; older ones expire (tags are immutable and deployments pin digests). */
export const IMAGES_KEPT = 50;

export interface RegistryProps {
  /** Region of the repository (its key is used through ECR there). */
  readonly region: string;
  readonly environment: string;
  readonly accountId: string;
  /** @default 'aws' */
  readonly partition?: string;
  /** Non-production: delete the repository with its images on destroy, short key deletion window. @default false */
  readonly production?: boolean;
}

/** The processor's image repository: immutable tags, scan on push, encrypted with its own key. */
export class Registry extends Construct {
  readonly repository: EcrRepository;
  readonly key: ManagedKey;

  constructor(scope: Construct, id: string, props: RegistryProps) {
    super(scope, id);
    const production = props.production ?? false;
    this.key = new ManagedKey(this, 'Key', {
      aliasName: `vitals-ecr-${props.environment}`,
      description: `vitals ${props.environment}: ECR images`,
      accountId: props.accountId,
      partition: props.partition,
      deletionWindowInDays: production ? 30 : 7,
      // Pushes and pulls decrypt layers through ECR only.
      viaServices: [`ecr.${props.region}.amazonaws.com`],
    });
    this.repository = new EcrRepository(this, 'Repository', {
      name: Registry.repositoryName(props.environment),
      imageTagMutability: 'IMMUTABLE',
      imageScanningConfiguration: { scanOnPush: true },
      encryptionConfiguration: [{ encryptionType: 'KMS', kmsKey: this.key.arn }],
      forceDelete: !production,
    });
    new EcrLifecyclePolicy(this, 'Lifecycle', {
      repository: this.repository.name,
      policy: JSON.stringify({
        rules: [{
          rulePriority: 1,
          description: `keep the newest ${IMAGES_KEPT} images`,
          selection: { tagStatus: 'any', countType: 'imageCountMoreThan', countNumber: IMAGES_KEPT },
          action: { type: 'expire' },
        }],
      }),
    });
  }

  /** Deterministic, so the pipeline stack can build the repository ARN without reading this stack's state. */
  static repositoryName(environment: string): string {
    return `vitals-processor-${environment}`;
  }

  static repositoryArn(p: { partition?: string; region: string; accountId: string; environment: string }): string {
    return `arn:${p.partition ?? 'aws'}:ecr:${p.region}:${p.accountId}:repository/${Registry.repositoryName(p.environment)}`;
  }
}
