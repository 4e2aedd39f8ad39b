import { describe, expect, it } from 'vitest';
import { jsonDepth, MAX_OUT_VALUE_BYTES, MAX_OUT_VALUE_DEPTH, parseOutValue } from '../../src/execution/out-value.js';

describe('parseOutValue', () => {
  it('none found', () => {
    expect(parseOutValue('')).toEqual({ found: false });
    expect(parseOutValue('hello\nworld\n')).toEqual({ found: false });
    expect(parseOutValue('  __OUT__:1')).toEqual({ found: false });
    expect(parseOutValue('x __OUT__:1')).toEqual({ found: false });
  });

  it('parses a single line', () => {
    expect(parseOutValue('__OUT__:{"answer":42}')).toEqual({ found: true, value: { answer: 42 } });
  });

  it('the last valid line wins', () => {
    expect(parseOutValue('__OUT__:1\nlog\n__OUT__:[2,3]\nmore log\n')).toEqual({ found: true, value: [2, 3] });
  });

  it('invalid JSON lines are ignored, falling back to an earlier valid one', () => {
    expect(parseOutValue('__OUT__:"first"\n__OUT__:{broken\n__OUT__:\n')).toEqual({ found: true, value: 'first' });
  });

  it('only invalid lines: not found', () => {
    expect(parseOutValue('__OUT__:nope\n__OUT__:{')).toEqual({ found: false });
  });

  it('CRLF line endings', () => {
    expect(parseOutValue('a\r\n__OUT__:{"x":true}\r\nb\r\n')).toEqual({ found: true, value: { x: true } });
  });

  it('null, strings and numbers are values', () => {
    expect(parseOutValue('__OUT__:null')).toEqual({ found: true, value: null });
    expect(parseOutValue('__OUT__:"s"')).toEqual({ found: true, value: 's' });
    expect(parseOutValue('__OUT__: 3.5 ')).toEqual({ found: true, value: 3.5 });
  });

  it('is case-sensitive about the prefix', () => {
    expect(parseOutValue('__out__:1')).toEqual({ found: false });
  });
});

describe('parseOutValue bounds', () => {
  it('skips a value nested deeper than the limit, falling back to an earlier one', () => {
    const deep = '['.repeat(MAX_OUT_VALUE_DEPTH + 1) + ']'.repeat(MAX_OUT_VALUE_DEPTH + 1);
    expect(parseOutValue(`__OUT__:"earlier"\n__OUT__:${deep}\n`)).toEqual({ found: true, value: 'earlier' });
  });

  it('takes a value exactly at the depth limit; brackets inside strings do not count', () => {
    const atLimit = '['.repeat(MAX_OUT_VALUE_DEPTH) + ']'.repeat(MAX_OUT_VALUE_DEPTH);
    expect(parseOutValue(`__OUT__:${atLimit}`).found).toBe(true);
    expect(parseOutValue(`__OUT__:{"a":"${'['.repeat(500)}\\"["}`)).toEqual({ found: true, value: { a: `${'['.repeat(500)}"[` } });
  });

  it('skips a value larger than the size limit', () => {
    const big = JSON.stringify('x'.repeat(MAX_OUT_VALUE_BYTES));
    expect(parseOutValue(`__OUT__:1\n__OUT__:${big}`)).toEqual({ found: true, value: 1 });
  });

  it('jsonDepth counts nesting', () => {
    expect(jsonDepth('1', 10)).toBe(0);
    expect(jsonDepth('[{"a":[1]}]', 10)).toBe(3);
    expect(jsonDepth('['.repeat(200000), 64)).toBe(65);
  });
});
