/**
 * Judge0 CE's language ids for the languages this service runs. Judge0 gives every
 * compiler or interpreter version an id of its own; here several ids lead to one of our
 * languages, which runs at the version the sandbox image holds (GET /v1/runtimes).
 *
 * The ids and the versions they stand for are Judge0 CE's: ids 43-89 from its open-source
 * release (db/languages/active.rb, v1.13), 90 and up from the hosted ce.judge0.com list.
 * Ids of other compilers (Clang: 75, 76, 104, 110) and of other languages (Python 2: 70)
 * are left out on purpose: they would run under a compiler or language they did not ask for.
 */

export interface Judge0LanguageId {
  id: number;
  /** Our language (src/execution/languages.ts). */
  language: string;
  /** The version Judge0 runs under this id (its compiler's, for C and C++). */
  judge0Version: string;
}

/** How Judge0 names a language: its label, and what comes before the version: `C (GCC 12.2.0)`. */
const NAME: Record<string, [label: string, prefix: string]> = {
  bash: ['Bash', ''],
  c: ['C', 'GCC '],
  cpp: ['C++', 'GCC '],
  go: ['Go', ''],
  java: ['Java', 'JDK '],
  javascript: ['JavaScript', 'Node.js '],
  perl: ['Perl', ''],
  php: ['PHP', ''],
  python: ['Python', ''],
  ruby: ['Ruby', ''],
  rust: ['Rust', ''],
  typescript: ['TypeScript', ''],
};

const ids = (language: string, pairs: [number, string][]): Judge0LanguageId[] =>
  pairs.map(([id, judge0Version]) => ({ id, language, judge0Version }));

export const JUDGE0_LANGUAGE_IDS: readonly Judge0LanguageId[] = [
  ...ids('bash', [[46, '5.0.0']]),
  ...ids('c', [[48, '7.4.0'], [49, '8.3.0'], [50, '9.2.0'], [103, '14.1.0']]),
  ...ids('cpp', [[52, '7.4.0'], [53, '8.3.0'], [54, '9.2.0'], [105, '14.1.0']]),
  ...ids('go', [[60, '1.13.5'], [95, '1.18.5'], [106, '1.22.0'], [107, '1.23.5']]),
  ...ids('java', [[62, '13.0.1'], [91, '17.0.6']]),
  ...ids('javascript', [[63, '12.14.0'], [93, '18.15.0'], [97, '20.17.0'], [102, '22.08.0']]),
  ...ids('perl', [[85, '5.28.1']]),
  ...ids('php', [[68, '7.4.1'], [98, '8.3.11']]),
  ...ids('python', [[71, '3.8.1'], [92, '3.11.2'], [100, '3.12.5'], [109, '3.13.2']]),
  ...ids('ruby', [[72, '2.7.0']]),
  ...ids('rust', [[73, '1.40.0'], [108, '1.85.0']]),
  ...ids('typescript', [[74, '3.7.4'], [94, '5.0.3'], [101, '5.6.2']]),
];

export function languageOfJudge0Id(id: number): Judge0LanguageId | undefined {
  return JUDGE0_LANGUAGE_IDS.find((l) => l.id === id);
}

/** Judge0's name for one of our languages at our version (the bare name when unknown). */
export function judge0Name(language: string, version: string | null): string {
  const [label, prefix] = NAME[language] ?? [language, ''];
  return version ? `${label} (${prefix}${version})` : label;
}

/** Numeric parts of a version string: "1.19.8" -> [1, 19, 8]; "12.2.0-14" -> [12, 2, 0]. */
function parts(v: string): number[] {
  const m = /^\D*(\d+(?:\.\d+)*)/.exec(v);
  return m ? m[1]!.split('.').map(Number) : [];
}

export function compareVersions(a: string, b: string): number {
  const x = parts(a);
  const y = parts(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The id GET /judge0/languages lists for a language: the newest Judge0 version that is not
 * newer than ours (a program written for it most likely runs on ours), else the oldest;
 * without our version, the first id. The other ids are accepted all the same.
 */
export function primaryJudge0Id(language: string, version: string | null): number | undefined {
  const candidates = JUDGE0_LANGUAGE_IDS.filter((l) => l.language === language);
  if (candidates.length === 0) return undefined;
  if (!version) return candidates[0]!.id;
  const sorted = [...candidates].sort((a, b) => compareVersions(a.judge0Version, b.judge0Version));
  const notNewer = sorted.filter((c) => compareVersions(c.judge0Version, version) <= 0);
  return (notNewer.at(-1) ?? sorted[0]!).id;
}
