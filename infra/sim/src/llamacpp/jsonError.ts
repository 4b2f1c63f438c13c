/*
 * llama-server parses bodies with nlohmann::json and lets its parse_error
 * escape as a 500 whose message is the exception text. This is a port of
 * the parts of nlohmann's lexer and parser that decide that text (error
 * wording, the byte position, the "last read" token), so a malformed body
 * gets the very message the engine would give.
 */

const EOF = -1;

type Token =
  | 'uninitialized'
  | 'literal_true'
  | 'literal_false'
  | 'literal_null'
  | 'value_string'
  | 'value_number'
  | 'begin_array'
  | 'begin_object'
  | 'end_array'
  | 'end_object'
  | 'name_separator'
  | 'value_separator'
  | 'parse_error'
  | 'end_of_input'
  | 'literal_or_value';

const TOKEN_NAMES: Record<Token, string> = {
  uninitialized: '<uninitialized>',
  literal_true: 'true literal',
  literal_false: 'false literal',
  literal_null: 'null literal',
  value_string: 'string literal',
  value_number: 'number literal',
  begin_array: "'['",
  begin_object: "'{'",
  end_array: "']'",
  end_object: "'}'",
  name_separator: "':'",
  value_separator: "','",
  parse_error: '<parse error>',
  end_of_input: 'end of input',
  literal_or_value: "'[', '{', or a literal",
};

const CONTROL_NAMES = [
  'NUL', 'SOH', 'STX', 'ETX', 'EOT', 'ENQ', 'ACK', 'BEL', 'BS', 'HT', 'LF', 'VT', 'FF', 'CR', 'SO', 'SI',
  'DLE', 'DC1', 'DC2', 'DC3', 'DC4', 'NAK', 'SYN', 'ETB', 'CAN', 'EM', 'SUB', 'ESC', 'FS', 'GS', 'RS', 'US',
];
const SHORT_ESCAPES: Record<number, string> = { 0x08: 'b', 0x09: 't', 0x0a: 'n', 0x0c: 'f', 0x0d: 'r' };

function controlMessage(c: number): string {
  const hex = c.toString(16).toUpperCase().padStart(4, '0');
  const short = SHORT_ESCAPES[c];
  return `invalid string: control character U+${hex} (${CONTROL_NAMES[c]}) must be escaped to \\u${hex}${short ? ` or \\${short}` : ''}`;
}

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isHex = (c: number): boolean => isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);

class Lexer {
  private pos = 0;
  private current = EOF;
  private nextUnget = false;
  charsReadTotal = 0;
  charsReadCurrentLine = 0;
  linesRead = 0;
  private tokenString: number[] = [];
  errorMessage = '';

  constructor(private readonly input: Uint8Array) {}

  private get(): number {
    this.charsReadTotal++;
    this.charsReadCurrentLine++;
    if (this.nextUnget) this.nextUnget = false;
    else this.current = this.pos < this.input.length ? this.input[this.pos++]! : EOF;
    if (this.current !== EOF) this.tokenString.push(this.current);
    if (this.current === 0x0a) {
      this.linesRead++;
      this.charsReadCurrentLine = 0;
    }
    return this.current;
  }

  private unget(): void {
    this.nextUnget = true;
    this.charsReadTotal--;
    if (this.charsReadCurrentLine === 0) {
      if (this.linesRead > 0) this.linesRead--;
    } else this.charsReadCurrentLine--;
    if (this.current !== EOF) this.tokenString.pop();
  }

  private reset(): void {
    this.tokenString = [this.current];
  }

  tokenText(): string {
    const bytes: number[] = [];
    for (const c of this.tokenString) {
      if (c <= 0x1f) for (const ch of `<U+${c.toString(16).toUpperCase().padStart(4, '0')}>`) bytes.push(ch.charCodeAt(0));
      else bytes.push(c);
    }
    return Buffer.from(bytes).toString('utf8');
  }

  private fail(message: string): Token {
    this.errorMessage = message;
    return 'parse_error';
  }

  scan(): Token {
    if (this.charsReadTotal === 0 && !this.skipBom()) return this.fail('invalid BOM; must be 0xEF 0xBB 0xBF if given');
    do this.get();
    while (this.current === 0x20 || this.current === 0x09 || this.current === 0x0a || this.current === 0x0d);
    switch (this.current) {
      case 0x5b: return 'begin_array';
      case 0x5d: return 'end_array';
      case 0x7b: return 'begin_object';
      case 0x7d: return 'end_object';
      case 0x3a: return 'name_separator';
      case 0x2c: return 'value_separator';
      case 0x74: return this.literal('true', 'literal_true');
      case 0x66: return this.literal('false', 'literal_false');
      case 0x6e: return this.literal('null', 'literal_null');
      case 0x22: return this.string();
      case 0x00:
      case EOF:
        return 'end_of_input';
      default:
        return this.current === 0x2d || isDigit(this.current) ? this.number() : this.fail('invalid literal');
    }
  }

  private skipBom(): boolean {
    if (this.get() === 0xef) return this.get() === 0xbb && this.get() === 0xbf;
    this.unget();
    return true;
  }

  private literal(text: string, token: Token): Token {
    for (let i = 1; i < text.length; i++) if (this.get() !== text.charCodeAt(i)) return this.fail('invalid literal');
    return token;
  }

  private codepoint(): number {
    let value = 0;
    for (let i = 0; i < 4; i++) {
      const c = this.get();
      if (!isHex(c)) return -1;
      value = value * 16 + Number.parseInt(String.fromCharCode(c), 16);
    }
    return value;
  }

  private bytesInRange(ranges: ReadonlyArray<readonly [number, number]>): boolean {
    for (const [lo, hi] of ranges) {
      const c = this.get();
      if (c < lo || c > hi) {
        this.errorMessage = 'invalid string: ill-formed UTF-8 byte';
        return false;
      }
    }
    return true;
  }

  private string(): Token {
    this.reset();
    const CONT = [0x80, 0xbf] as const;
    for (;;) {
      const c = this.get();
      if (c === EOF) return this.fail('invalid string: missing closing quote');
      if (c === 0x22) return 'value_string';
      if (c === 0x5c) {
        const e = this.get();
        if (e === 0x75) {
          const unit = this.codepoint();
          if (unit === -1) return this.fail("invalid string: '\\u' must be followed by 4 hex digits");
          if (unit >= 0xd800 && unit <= 0xdbff) {
            const pairs = this.get() === 0x5c && this.get() === 0x75;
            if (!pairs) return this.fail('invalid string: surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF');
            const low = this.codepoint();
            if (low === -1) return this.fail("invalid string: '\\u' must be followed by 4 hex digits");
            if (low < 0xdc00 || low > 0xdfff) return this.fail('invalid string: surrogate U+D800..U+DBFF must be followed by U+DC00..U+DFFF');
          } else if (unit >= 0xdc00 && unit <= 0xdfff) {
            return this.fail('invalid string: surrogate U+DC00..U+DFFF must follow U+D800..U+DBFF');
          }
        } else if (!'"\\/bfnrt'.includes(String.fromCharCode(e))) {
          return this.fail('invalid string: forbidden character after backslash');
        }
        continue;
      }
      if (c <= 0x1f) return this.fail(controlMessage(c));
      if (c <= 0x7f) continue;
      let ok: boolean;
      if (c >= 0xc2 && c <= 0xdf) ok = this.bytesInRange([CONT]);
      else if (c === 0xe0) ok = this.bytesInRange([[0xa0, 0xbf], CONT]);
      else if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) ok = this.bytesInRange([CONT, CONT]);
      else if (c === 0xed) ok = this.bytesInRange([[0x80, 0x9f], CONT]);
      else if (c === 0xf0) ok = this.bytesInRange([[0x90, 0xbf], CONT, CONT]);
      else if (c >= 0xf1 && c <= 0xf3) ok = this.bytesInRange([CONT, CONT, CONT]);
      else if (c === 0xf4) ok = this.bytesInRange([[0x80, 0x8f], CONT, CONT]);
      else return this.fail('invalid string: ill-formed UTF-8 byte');
      if (!ok) return 'parse_error';
    }
  }

  private number(): Token {
    this.reset();
    let c = this.current;
    if (c === 0x2d) {
      c = this.get();
      if (!isDigit(c)) return this.fail("invalid number; expected digit after '-'");
    }
    if (c === 0x30) c = this.get();
    else while (isDigit((c = this.get())));
    if (c === 0x2e) {
      if (!isDigit(this.get())) return this.fail("invalid number; expected digit after '.'");
      while (isDigit((c = this.get())));
    }
    if (c === 0x65 || c === 0x45) {
      c = this.get();
      if (c === 0x2b || c === 0x2d) {
        if (!isDigit(this.get())) return this.fail('invalid number; expected digit after exponent sign');
      } else if (!isDigit(c)) return this.fail("invalid number; expected '+', '-', or digit after exponent");
      while (isDigit(this.get()));
    }
    this.unget();
    return 'value_number';
  }
}

class ParseFailure extends Error {}

class Parser {
  private readonly lexer: Lexer;
  private last: Token = 'uninitialized';

  constructor(input: Uint8Array) {
    this.lexer = new Lexer(input);
    this.next();
  }

  private next(): Token {
    return (this.last = this.lexer.scan());
  }

  private fail(expected: Token, context: string): never {
    let message = `syntax error ${context ? `while parsing ${context} ` : ''}- `;
    message +=
      this.last === 'parse_error'
        ? `${this.lexer.errorMessage}; last read: '${this.lexer.tokenText()}'`
        : `unexpected ${TOKEN_NAMES[this.last]}`;
    if (expected !== 'uninitialized') message += `; expected ${TOKEN_NAMES[expected]}`;
    this.raise(message);
  }

  raise(what: string): never {
    const { linesRead, charsReadCurrentLine } = this.lexer;
    throw new ParseFailure(`[json.exception.parse_error.101] parse error at line ${linesRead + 1}, column ${charsReadCurrentLine}: ${what}`);
  }

  /** nlohmann's iterative sax_parse_internal followed by the strict end-of-input check. */
  parse(): void {
    const states: boolean[] = []; // true: inside an array
    let skipToStates = false;
    for (;;) {
      if (!skipToStates) {
        switch (this.last) {
          case 'begin_object': {
            const key = this.next();
            if (key === 'end_object') break;
            if (key !== 'value_string') this.fail('value_string', 'object key');
            if (this.next() !== 'name_separator') this.fail('name_separator', 'object separator');
            states.push(false);
            this.next();
            continue;
          }
          case 'begin_array':
            if (this.next() === 'end_array') break;
            states.push(true);
            continue;
          case 'literal_true':
          case 'literal_false':
          case 'literal_null':
          case 'value_string':
          case 'value_number':
            break;
          case 'parse_error':
            return this.fail('uninitialized', 'value');
          default:
            if (this.last === 'end_of_input' && this.lexer.charsReadTotal === 1) {
              return this.raise('attempting to parse an empty input; check that your input string or stream contains the expected JSON');
            }
            return this.fail('literal_or_value', 'value');
        }
      } else skipToStates = false;

      if (states.length === 0) break;
      if (states[states.length - 1]) {
        if (this.next() === 'value_separator') {
          this.next();
          continue;
        }
        if (this.last !== 'end_array') this.fail('end_array', 'array');
      } else {
        if (this.next() === 'value_separator') {
          if (this.next() !== 'value_string') this.fail('value_string', 'object key');
          if (this.next() !== 'name_separator') this.fail('name_separator', 'object separator');
          this.next();
          continue;
        }
        if (this.last !== 'end_object') this.fail('end_object', 'object');
      }
      states.pop();
      skipToStates = true;
    }
    if (this.next() !== 'end_of_input') this.fail('end_of_input', 'value');
  }
}

/** The `what()` of the parse_error nlohmann::json::parse throws for `input`, or undefined if it parses. */
export function nlohmannParseError(input: Uint8Array): string | undefined {
  try {
    new Parser(input).parse();
    return undefined;
  } catch (err) {
    if (err instanceof ParseFailure) return err.message;
    throw err;
  }
}
