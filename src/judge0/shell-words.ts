/**
 * compiler_options and command_line_arguments are one string in Judge0, which a shell
 * splits. Here they become argv words the same way a shell would split them (blanks
 * separate; '…' and "…" quote; a backslash escapes the next character), and nothing else:
 * no variable, glob or command is ever expanded, since no shell runs them.
 */
export function shellWords(s: string): string[] {
  const words: string[] = [];
  // null: between words; '' is a word already (an empty quoted one).
  let word: string | null = null;
  let quote: "'" | '"' | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
      else word = (word ?? '') + c;
      continue;
    }
    if (quote === '"') {
      if (c === '"') quote = null;
      else if (c === '\\' && i + 1 < s.length && '"\\$`'.includes(s[i + 1]!)) word = (word ?? '') + s[++i]!;
      else word = (word ?? '') + c;
      continue;
    }
    if (/\s/.test(c)) {
      if (word !== null) words.push(word);
      word = null;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= '';
    } else if (c === '\\' && i + 1 < s.length) {
      word = (word ?? '') + s[++i]!;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (quote) throw new Error(`unterminated ${quote === "'" ? 'single' : 'double'} quote`);
  if (word !== null) words.push(word);
  return words;
}
