/**
 * The languages the sandbox image runs. The program is written to /code/<file> and run
 * with <command>; every path here is inside the sandbox.
 */
export interface Language {
  name: string;
  aliases: string[];
  file: string;
  command: (file: string) => string[];
}

export const LANGUAGES: readonly Language[] = [
  {
    name: 'python',
    aliases: ['py', 'python3'],
    file: 'main.py',
    // Not -u: the image's sitecustomize makes stdout line-buffered instead (an unbuffered
    // write to a pipe can be partial under gVisor, and Python then drops the rest).
    command: (f) => ['python3', f],
  },
  {
    name: 'javascript',
    aliases: ['js', 'node', 'nodejs'],
    file: 'main.js',
    command: (f) => ['node', f],
  },
  {
    name: 'bash',
    aliases: ['sh', 'shell'],
    file: 'main.sh',
    command: (f) => ['bash', f],
  },
];

export function findLanguage(name: string): Language | undefined {
  const n = name.toLowerCase();
  return LANGUAGES.find((l) => l.name === n || l.aliases.includes(n));
}

export function knownLanguages(): string[] {
  return LANGUAGES.map((l) => l.name);
}
