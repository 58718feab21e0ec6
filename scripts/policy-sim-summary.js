#!/usr/bin/env node
// Adds up the policy-simulation assertion counts every suite wrote to .tmp/policy-sim/*.json
// (src/infra/policy-sim/simulate.ts) and prints one summary line plus one line per role.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const dir = path.join(__dirname, '..', '.tmp', 'policy-sim');
const totals = {};
for (const file of fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')) : []) {
  for (const [role, c] of Object.entries(JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')))) {
    const t = (totals[role] ??= { allowed: 0, denied: 0 });
    t.allowed += c.allowed;
    t.denied += c.denied;
  }
}
const roles = Object.keys(totals).sort();
const sum = (k) => roles.reduce((n, r) => n + totals[r][k], 0);
console.log(`policy simulation: ${roles.length} roles, ${sum('allowed')} allowed and ${sum('denied')} denied assertions`);
if (process.argv.includes('--per-role')) for (const r of roles) console.log(`  ${r}: ${totals[r].allowed} allowed, ${totals[r].denied} denied`);
