/**
 * The globs of `outputFiles`, as regular expressions over paths relative to /code: `*` and
 * `?` stay within a name, `**` crosses directories (`**` and a slash match no directory too). Pure.
 */

/** Why a pattern is refused, or null: relative, no "..", letters, digits and . _ - / * ? only. */
export function globProblem(pattern: string): string | null {
  if (pattern.startsWith('/')) return 'must be relative to /code';
  if (pattern.split('/').some((p) => p === '..' || p === '.' || p === '')) return 'must not contain "", "." or ".." parts';
  if (!/^[A-Za-z0-9_.*?/-]+$/.test(pattern)) return 'may only use letters, digits, ".", "_", "-", "/", "*" and "?"';
  return null;
}

export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      i++;
      if (pattern[i + 1] === '/') {
        i++;
        re += '(?:.*/)?';
      } else re += '.*';
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.\\^$+(){}[\]|-]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** The paths that match any of the patterns, in path order. */
export function matchGlobs(paths: readonly string[], patterns: readonly string[]): string[] {
  const res = patterns.map(globToRegExp);
  return paths.filter((p) => res.some((r) => r.test(p))).sort();
}
