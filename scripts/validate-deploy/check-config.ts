/**
 * Parses every environment that deploy/ hands the service with the service's own
 * loadConfig, so that a ConfigMap, Secret or systemd environment file with an unknown
 * KATA_EXEC_* name or a bad value fails here, not at the service's start on a node.
 *
 *   tsx scripts/validate-deploy/check-config.ts [--json ENVS.json] [ENV_FILE ...]
 *
 * ENVS.json: { name: { KATA_EXEC_X: value } } (validate.mjs --env-out); ENV_FILE: systemd
 * EnvironmentFile syntax (KEY=VALUE lines, # comments).
 */
import { readFileSync } from 'node:fs';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

function parseEnvFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) throw new Error(`not KEY=VALUE: ${line}`);
    let value = line.slice(eq + 1).trim();
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0]!)) value = value.slice(1, -1);
    env[line.slice(0, eq).trim()] = value;
  }
  return env;
}

const sets: [string, Record<string, string>][] = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--json') {
    const all = JSON.parse(readFileSync(args[++i]!, 'utf8')) as Record<string, Record<string, string>>;
    for (const [name, env] of Object.entries(all)) sets.push([`kubernetes ${name}`, env]);
  } else {
    sets.push([args[i]!, parseEnvFile(readFileSync(args[i]!, 'utf8'))]);
  }
}
if (sets.length === 0) {
  console.error('usage: check-config.ts [--json ENVS.json] [ENV_FILE ...]');
  process.exit(2);
}

let bad = 0;
for (const [name, env] of sets) {
  try {
    const c = loadConfig(env);
    console.log(`check-config: ${name}: ${Object.keys(env).length} settings parse (runtime ${c.runtime}, run dir ${c.runDir})`);
  } catch (err) {
    bad++;
    console.error(`check-config: ${name}: ${err instanceof ConfigError ? err.message : String(err)}`);
  }
}
process.exit(bad ? 1 : 0);
