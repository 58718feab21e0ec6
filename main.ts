import { App } from 'cdktf';
import { BootstrapStack } from './src/infra/bootstrap-stack';
import { loadConfig, settingsFrom } from './src/infra/config';
import { emulatorTargetFrom, useEmulator } from './src/infra/emulator';
import { PipelineStack } from './src/infra/pipeline-stack';
import { RegistryStack } from './src/infra/registry-stack';

// Settings come from environment variables, then cdktf context (see `help`); invalid ones stop synth
// with one error listing every problem.
const app = new App();
const config = loadConfig(settingsFrom(process.env, (key) => app.node.tryGetContext(key)));

new BootstrapStack(app, config);
new RegistryStack(app, config);
new PipelineStack(app, config);

// Deploy rehearsal only (scripts/rehearse.sh sets REHEARSAL_ENDPOINT): point the stacks at the local
// AWS API emulator. Unset, as in every real deploy, the stacks are synthesized as they are.
const emulator = emulatorTargetFrom(process.env);
if (emulator !== undefined) useEmulator(app, emulator);

app.synth();
