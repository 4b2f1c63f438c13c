import { describe, expect, it } from 'vitest';
import { nlohmannParseError } from './jsonError.js';

const error = (text: string): string | undefined => nlohmannParseError(Buffer.from(text, 'utf8'));
const prefix = '[json.exception.parse_error.101] parse error at line ';

describe('nlohmann::json parse errors', () => {
  it('accepts valid JSON', () => {
    for (const ok of ['{}', '[]', ' {"a":[1,-2.5e3,true,false,null,"x\\u00e9\\n"]} ', '"s"', '0']) expect(error(ok)).toBeUndefined();
  });

  it.each([
    ['', '1, column 1: attempting to parse an empty input; check that your input string or stream contains the expected JSON'],
    ['{"model":"x","messages":[{"role":"user","content":"hi"}', "1, column 56: syntax error while parsing array - unexpected end of input; expected ']'"],
    ['{not json', "1, column 3: syntax error while parsing object key - invalid literal; last read: '{no'; expected string literal"],
    ['{"a":1,}', "1, column 8: syntax error while parsing object key - unexpected '}'; expected string literal"],
    ['{"a" 1}', "1, column 6: syntax error while parsing object separator - unexpected number literal; expected ':'"],
    ['[1 2]', "1, column 4: syntax error while parsing array - unexpected number literal; expected ']'"],
    // Structural characters and whitespace never reset nlohmann's "last read" buffer; numbers and strings do.
    ['{"a":1} x', "1, column 9: syntax error while parsing value - invalid literal; last read: '1} x'; expected end of input"],
    ['{"a":-}', "1, column 7: syntax error while parsing value - invalid number; expected digit after '-'; last read: '-}'"],
    ['{"a":"x\ny"}', "2, column 0: syntax error while parsing value - invalid string: control character U+000A (LF) must be escaped to \\u000A or \\n; last read: '\"x<U+000A>'"],
    ['{"a":"\\q"}', "1, column 8: syntax error while parsing value - invalid string: forbidden character after backslash; last read: '\"\\q'"],
    ['{"a":"abc', "1, column 10: syntax error while parsing value - invalid string: missing closing quote; last read: '\"abc'"],
  ])('%j', (input, message) => expect(error(input)).toBe(prefix + message));
});
