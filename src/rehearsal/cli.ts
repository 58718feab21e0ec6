/**
 * Steps of scripts/rehearse.sh that read better in TypeScript than in shell:
 *
 *   drift PLAN_JSON DIFF_OUTPUT           classify `cdktf diff` changes against the allowlist; exit 1 on
 *                                         any change that is not an allowlisted emulator artifact
 *   destroy-removals STATE_LIST           "<address>\t<reason>" per resource of a type the emulator
 *                                         cannot destroy (allowlist destroyStateRemoval)
 *   api-calls LOG_DIR OUT_JSON STACK=STATE_JSON...
 *                                         the API call record from LOG_DIR/<stack>-<phase>.log
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EMULATOR_ALLOWLIST } from '../infra/emulator';
import { apiCallsFromLog, ApiCall, PHASES, stateResources, StateJson } from './api-calls';
import { destroyStateRemovals } from './destroy';
import { classifyDrift, countsFromPlan, countsFromPlanText, Plan } from './drift';

function drift(planFile: string, diffOutputFile: string): number {
  const plan = JSON.parse(readFileSync(planFile, 'utf8')) as Plan;
  const report = classifyDrift(plan, EMULATOR_ALLOWLIST.drift);
  const fromText = countsFromPlanText(readFileSync(diffOutputFile, 'utf8'));
  const fromJson = countsFromPlan(plan);
  let status = 0;
  if (fromText === undefined) {
    console.log('cdktf diff printed neither "No changes." nor a "Plan:" line');
    status = 1;
  } else if (fromText.add !== fromJson.add || fromText.change !== fromJson.change || fromText.destroy !== fromJson.destroy) {
    console.log(`cdktf diff says ${JSON.stringify(fromText)} but its plan file holds ${JSON.stringify(fromJson)}`);
    status = 1;
  } else {
    console.log(`cdktf diff: ${fromText.add} to add, ${fromText.change} to change, ${fromText.destroy} to destroy`);
  }
  for (const f of report.allowlisted) {
    console.log(`  allowlisted: ${f.address} ${f.actions.join('/')}: ${f.attributes.join(', ')}`);
  }
  for (const f of report.consequences) {
    console.log(`  follows from allowlisted drift: ${f.address} ${f.actions.join('/')}: ${f.attributes.join(', ')} (known after apply: read from a data source deferred by pending changes of ${f.because.join(', ')})`);
  }
  for (const f of report.unexpected) {
    console.log(`  UNEXPECTED: ${f.address} ${f.actions.join('/')}: ${f.attributes.join(', ')}`);
  }
  if (report.unexpected.length > 0) status = 1;
  for (const e of report.entriesUsed) console.log(`  allowlist entry ${e.type}.${e.attribute}: ${e.reason}`);
  const used = report.entriesUsed.map((e) => `${e.type}.${e.attribute}`);
  console.log(`drift: ${report.unexpected.length} unexpected, ${report.allowlisted.length} allowlisted + ${report.consequences.length} following from them`
    + `${used.length > 0 ? ` (${used.join(', ')}: emulator artifacts, reasons in src/infra/emulator/allowlist.json)` : ''}`);
  return status;
}

function destroyRemovals(stateListFile: string): number {
  const addresses = readFileSync(stateListFile, 'utf8').split('\n').filter((l) => l !== '');
  for (const { address, reason } of destroyStateRemovals(addresses, EMULATOR_ALLOWLIST.destroyStateRemoval)) console.log(`${address}\t${reason}`);
  return 0;
}

function apiCalls(logDir: string, outFile: string, stackStates: readonly string[]): number {
  const calls: ApiCall[] = [];
  const summary: string[] = [];
  for (const pair of stackStates) {
    const [stack, stateFile] = pair.split('=');
    const state = stateResources(JSON.parse(readFileSync(stateFile, 'utf8')) as StateJson);
    let count = 0;
    for (const phase of PHASES) {
      const log = join(logDir, `${stack}-${phase}.log`);
      if (!existsSync(log)) continue;
      const fromLog = apiCallsFromLog(stack, phase, readFileSync(log, 'utf8'), state);
      calls.push(...fromLog);
      count += fromLog.length;
    }
    summary.push(`${stack} ${count}`);
  }
  writeFileSync(outFile, `${JSON.stringify(calls, null, 1)}\n`);
  const withArn = calls.filter((c) => c.resource !== null).length;
  const actions = new Set(calls.map((c) => c.action)).size;
  const byPhase = PHASES.map((p) => `${p} ${calls.filter((c) => c.phase === p).length}`).join(', ');
  console.log(`API call record: ${outFile}: ${calls.length} calls (${byPhase}), ${actions} distinct actions, ${withArn} with a resource ARN (${calls.length === 0 ? 0 : Math.round((withArn / calls.length) * 100)}%)`);
  console.log(`api-calls: ${summary.join(', ')}`);
  return calls.length > 0 ? 0 : 1;
}

function main(argv: readonly string[]): number {
  const [command, ...args] = argv;
  switch (command) {
    case 'drift':
      return drift(args[0], args[1]);
    case 'destroy-removals':
      return destroyRemovals(args[0]);
    case 'api-calls':
      return apiCalls(args[0], args[1], args.slice(2));
    default:
      console.error(`usage: cli.ts drift|destroy-removals|api-calls ... (received ${JSON.stringify(command)})`);
      return 2;
  }
}

process.exitCode = main(process.argv.slice(2));
