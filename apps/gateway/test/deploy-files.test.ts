// The deployment files (Dockerfile, deploy/feishu-exam.service) set some variables themselves, and their own
// instructions feed them a copy of .env.example: `docker run --env-file .env` and systemd's EnvironmentFile=.
// Both let the file win: an env file's variable overrides the image's ENV, and "Settings from these files
// override settings made with Environment=" (systemd.exec(5), EnvironmentFile=). So whatever .env.example sets
// replaces what the deployment file chose. Audit (operations): each failed on the code before its fix.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const repo = fileURLToPath(new URL('../../../', import.meta.url));
const read = (path: string) => readFileSync(`${repo}${path}`, 'utf8');

/** The variables a copy of .env.example sets (uncommented, with a value). */
function exampleSettings(): Map<string, string> {
  const settings = new Map<string, string>();
  for (const line of read('.env.example').split('\n')) {
    const match = /^([A-Z][A-Z0-9_]*)=(.+)$/.exec(line.trim());
    if (match?.[1] && match[2]) settings.set(match[1], match[2].trim());
  }
  return settings;
}

/** `ENV A=1 \ B=2` of the Dockerfile's last stage (the image that runs). */
function imageEnv(): Map<string, string> {
  const dockerfile = read('Dockerfile').replace(/\\\n/g, ' ');
  const lastStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
  const env = new Map<string, string>();
  for (const line of lastStage.split('\n').filter((l) => l.startsWith('ENV ')))
    for (const [, name, value] of line.slice(4).matchAll(/([A-Z][A-Z0-9_]*)=(\S+)/g))
      if (name && value) env.set(name, value);
  return env;
}

/** The unit's `Environment=NAME=value` lines. */
function unitEnv(): Map<string, string> {
  const env = new Map<string, string>();
  for (const [, name, value] of read('deploy/feishu-exam.service').matchAll(
    /^Environment=([A-Z][A-Z0-9_]*)=(.*)$/gm,
  ))
    if (name && value !== undefined) env.set(name, value.trim());
  return env;
}

describe('.env.example, copied as the deployment files say, leaves their settings alone', () => {
  it.each([
    ['the image (docker run --env-file .env)', imageEnv],
    ['the systemd unit (EnvironmentFile=/etc/feishu-exam/gateway.env)', unitEnv],
  ])('%s: no variable it sets is overridden by a different value from .env.example', (_, deployed) => {
    const example = exampleSettings();
    const overridden = [...deployed()].filter(
      ([name, value]) => example.has(name) && example.get(name) !== value,
    );
    expect(overridden.map(([name, value]) => `${name}: ${value} → ${example.get(name)}`)).toEqual([]);
  });
});
