/**
 * The languages the sandbox images run: the one place a language is defined. The program
 * is written to /code/<file>; a compiled language's `compile` runs first, in /code, then
 * `command` runs the program. Every path here is inside the sandbox, whose root is
 * read-only: compilers write only to /code and /tmp (caches under /tmp).
 *
 * Adding a language: one entry here, plus its line in scripts/build-image.sh (its Debian
 * packages and how its version is read). The image records the versions it holds in
 * /etc/kata-exec/languages.json, which says whether the running image has the language.
 */
import path from 'node:path/posix';

export type ImageVariant = 'default' | 'full';

export interface Language {
  /** 'c', 'cpp', 'go', 'rust', 'java', 'typescript', 'ruby', 'php', 'perl', 'python', 'javascript', 'bash' */
  name: string;
  aliases: string[];
  /** The entry file under /code (main.c, Main.java ...). */
  file: string;
  /**
   * Compiled languages only: the argv run in /code before the program (`file`: the entry
   * file's path; `extraArgs`: the request's extra compiler arguments), and extra NAME=value
   * environment for it.
   */
  compile?: { command: (file: string, extraArgs: string[]) => string[]; env?: string[] };
  /**
   * What runs the program: the built binary for a compiled language. `run.memoryMb`: the
   * run's memory limit, for a runtime that sizes its heap itself (java: the JVM does not see
   * the sandbox's limit on runc, and would size its heap from the host's memory).
   */
  command: (file: string, run?: { memoryMb?: number }) => string[];
  /** The smallest image variant that holds it ('full' holds every language). */
  image: ImageVariant;
}

/** The image reference build-image.sh gives each variant. */
export const IMAGE_OF_VARIANT: Record<ImageVariant, string> = {
  default: 'toolruntime-sandbox:latest',
  full: 'toolruntime-sandbox-full:latest',
};

/** main.c -> main, with its directory: where a compiled language's binary goes. */
function withoutExt(file: string): string {
  return file.slice(0, file.length - path.extname(file).length);
}

export const LANGUAGES: readonly Language[] = [
  {
    name: 'python',
    aliases: ['py', 'python3'],
    file: 'main.py',
    // Not -u: the image's sitecustomize makes stdout line-buffered instead (an unbuffered
    // write to a pipe can be partial under gVisor, and Python then drops the rest).
    command: (f) => ['python3', f],
    image: 'default',
  },
  {
    name: 'javascript',
    aliases: ['js', 'node', 'nodejs'],
    file: 'main.js',
    command: (f) => ['node', f],
    image: 'default',
  },
  {
    name: 'bash',
    aliases: ['sh', 'shell'],
    file: 'main.sh',
    command: (f) => ['bash', f],
    image: 'default',
  },
  {
    name: 'c',
    aliases: ['gcc', 'c17'],
    file: 'main.c',
    compile: { command: (f, extra) => ['gcc', '-O2', '-std=gnu17', ...extra, '-o', withoutExt(f), f, '-lm'] },
    command: (f) => [withoutExt(f)],
    image: 'full',
  },
  {
    name: 'cpp',
    aliases: ['c++', 'g++', 'cxx', 'cpp17'],
    file: 'main.cpp',
    compile: { command: (f, extra) => ['g++', '-O2', '-std=c++17', ...extra, '-o', withoutExt(f), f, '-lm'] },
    command: (f) => [withoutExt(f)],
    image: 'full',
  },
  {
    name: 'go',
    aliases: ['golang'],
    file: 'main.go',
    compile: {
      // The build cache and GOPATH under /tmp (the root is read-only); no cgo: a static
      // binary, built without calling gcc.
      command: (f, extra) => ['go', 'build', ...extra, '-o', withoutExt(f), f],
      env: ['GOCACHE=/tmp/go-cache', 'GOPATH=/tmp/go', 'CGO_ENABLED=0', 'GO111MODULE=off'],
    },
    command: (f) => [withoutExt(f)],
    image: 'full',
  },
  {
    name: 'rust',
    aliases: ['rs', 'rustc'],
    file: 'main.rs',
    compile: { command: (f, extra) => ['rustc', '-O', '--edition=2021', ...extra, '-o', withoutExt(f), f] },
    command: (f) => [withoutExt(f)],
    image: 'full',
  },
  {
    name: 'java',
    aliases: ['javac', 'jdk'],
    // The public class must be Main (judges' convention).
    file: 'Main.java',
    compile: {
      // The serial collector and C1 only: javac's peak memory and start-up stay small.
      command: (f, extra) => ['javac', '-J-XX:+UseSerialGC', '-J-XX:TieredStopAtLevel=1', '-J-XX:-UsePerfData', '-encoding', 'UTF-8', ...extra, '-d', path.dirname(f), f],
    },
    // The heap sized from the run's memory limit, not from the host's memory (runc shows the
    // JVM the host's). It starts small and grows only as the live data needs (so a program
    // that makes garbage stays small), and may reach the whole limit: the JVM's own ~30 MB
    // beside it make the peak RSS pass the limit before the heap is full, so a program that
    // keeps what it allocates is memory_limit, never a Java heap OutOfMemoryError (exit 1,
    // runtime_error) that a smaller -Xmx would give first.
    command: (f, run) => [
      'java',
      '-XX:+UseSerialGC',
      '-XX:-UsePerfData',
      '-Xss64m',
      ...(run?.memoryMb ? [`-Xms${Math.min(16, run.memoryMb)}m`, `-Xmx${run.memoryMb}m`] : []),
      '-cp',
      path.dirname(f),
      path.basename(withoutExt(f)),
    ],
    image: 'full',
  },
  {
    name: 'typescript',
    aliases: ['ts', 'tsc'],
    file: 'main.ts',
    compile: {
      // Debian has no @types/node: the image's node-globals.d.ts types require, process,
      // fs ... loosely. main.ts -> main.js beside it.
      command: (f, extra) => ['tsc', '--target', 'ES2020', '--module', 'commonjs', '--skipLibCheck', ...extra, '/usr/local/lib/kata-exec/node-globals.d.ts', f],
    },
    command: (f) => ['node', `${withoutExt(f)}.js`],
    image: 'full',
  },
  {
    name: 'ruby',
    aliases: ['rb'],
    file: 'main.rb',
    command: (f) => ['ruby', f],
    image: 'full',
  },
  {
    name: 'php',
    aliases: [],
    file: 'main.php',
    command: (f) => ['php', f],
    image: 'full',
  },
  {
    name: 'perl',
    aliases: ['pl'],
    file: 'main.pl',
    command: (f) => ['perl', f],
    image: 'full',
  },
];

export function findLanguage(name: string): Language | undefined {
  const n = name.toLowerCase();
  return LANGUAGES.find((l) => l.name === n || l.aliases.includes(n));
}

export function knownLanguages(): string[] {
  return LANGUAGES.map((l) => l.name);
}

/**
 * The languages of the running image with their versions (its /etc/kata-exec/languages.json),
 * or null while the image has not been read yet: then nothing is refused here.
 */
export type ImageLanguages = () => Readonly<Record<string, string>> | null;

/** Whether the running image holds the language (true when that is not known yet). */
export function isAvailable(lang: Language, inImage: Readonly<Record<string, string>> | null): boolean {
  return inImage === null || Object.hasOwn(inImage, lang.name);
}
