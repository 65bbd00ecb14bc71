/**
 * AWS IoT rule SQL (version 2016-03-23), as far as the local run evaluates
 * it: `SELECT` of `*`, of the fields of a nested object (`a.b.*`), and of
 * fields (paths `a.b.c`, `AS` aliases), the
 * functions `topic()`, `topic(n)`, `timestamp()` and `newuuid()`, and a
 * `WHERE` of comparisons (`=`, `<>`, `<`, `<=`, `>`, `>=`) between fields,
 * literals and those functions, joined by `AND`, `OR`, `NOT` and
 * parentheses; MQTT topic filters (`+`, `#`); and the substitution templates
 * (`${expression}`) of rule actions. Comparisons, logic and Undefined follow
 * the AWS IoT SQL reference's operator tables. Anything else is refused when
 * the rule is read, with the part named: a rule evaluated differently from
 * AWS IoT would be worse than a rule that does not run.
 */
import { randomUUID } from 'crypto';

/** A part of the SQL the local run does not evaluate, or a SQL that is not valid. */
export class IotSqlError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IotSqlError';
  }
}

/** AWS IoT's Undefined: a missing field, a function of the wrong argument, a comparison that has no answer. */
export const UNDEFINED = Symbol('Undefined');
export type SqlValue = unknown;

export type Expression =
  | { readonly kind: 'literal'; readonly value: string | number | boolean | null }
  | { readonly kind: 'path'; readonly path: readonly string[] }
  | { readonly kind: 'function'; readonly name: 'topic' | 'timestamp' | 'newuuid'; readonly level?: number }
  | { readonly kind: 'compare'; readonly op: '=' | '<>' | '<' | '<=' | '>' | '>='; readonly left: Expression; readonly right: Expression }
  | { readonly kind: 'logic'; readonly op: 'AND' | 'OR'; readonly left: Expression; readonly right: Expression }
  | { readonly kind: 'not'; readonly operand: Expression };

export type SelectItem =
  /** `*`, or `a.b.*` (the fields of the object at `path`). */
  | { readonly kind: 'all'; readonly path?: readonly string[] }
  | { readonly kind: 'field'; readonly name: string; readonly expression: Expression };

export interface ParsedRuleSql {
  readonly select: readonly SelectItem[];
  readonly topicFilter: string;
  readonly where?: Expression;
}

/** What an expression is evaluated against: the message as published. */
export interface MessageContext {
  readonly topic: string;
  /** The payload parsed as JSON, or UNDEFINED when it is not JSON (a binary payload). */
  readonly document: SqlValue;
  /** Epoch milliseconds when the message arrived. */
  readonly receivedAt: number;
}

// ---------------------------------------------------------------- tokens

type Token =
  | { readonly type: 'word'; readonly text: string; readonly at: number }
  | { readonly type: 'string'; readonly text: string; readonly at: number }
  | { readonly type: 'number'; readonly text: string; readonly at: number }
  | { readonly type: 'symbol'; readonly text: string; readonly at: number }
  | { readonly type: 'end'; readonly text: ''; readonly at: number };

const KEYWORDS = new Set(['SELECT', 'FROM', 'WHERE', 'AS', 'AND', 'OR', 'NOT', 'TRUE', 'FALSE', 'NULL', 'VALUE']);

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === "'") {
      let text = '';
      let j = i + 1;
      for (;;) {
        if (j >= source.length) throw new IotSqlError(`the string starting at character ${i + 1} is not closed`);
        if (source[j] === "'") {
          // '' inside a string literal is one quote.
          if (source[j + 1] === "'") {
            text += "'";
            j += 2;
            continue;
          }
          break;
        }
        text += source[j++];
      }
      tokens.push({ type: 'string', text, at: i });
      i = j + 1;
      continue;
    }
    const number = /^\d+(\.\d+)?([eE][+-]?\d+)?/.exec(source.slice(i));
    if (number) {
      tokens.push({ type: 'number', text: number[0], at: i });
      i += number[0].length;
      continue;
    }
    const word = /^[A-Za-z_][A-Za-z0-9_]*/.exec(source.slice(i));
    if (word) {
      tokens.push({ type: 'word', text: word[0], at: i });
      i += word[0].length;
      continue;
    }
    const symbol = /^(<>|<=|>=|!=|\|\||[=<>(),.*+\-/%[\]"`{}|])/.exec(source.slice(i));
    if (symbol) {
      tokens.push({ type: 'symbol', text: symbol[0], at: i });
      i += symbol[0].length;
      continue;
    }
    throw new IotSqlError(`the character "${c}" at ${i + 1} is not part of AWS IoT SQL the local run reads`);
  }
  tokens.push({ type: 'end', text: '', at: source.length });
  return tokens;
}

/** Operators and syntax of AWS IoT SQL that the local run does not evaluate, with what they are. */
const UNSUPPORTED_SYMBOLS: Record<string, string> = {
  '+': 'the arithmetic operator "+"',
  '-': 'the arithmetic operator "-" (or a negative number)',
  '/': 'the arithmetic operator "/"',
  '%': 'the arithmetic operator "%"',
  '||': 'the string concatenation operator "||"',
  '[': 'an array index "[...]"',
  '"': 'a double-quoted name',
  '`': 'a back-quoted name',
  '{': 'an object literal',
  '!=': 'the operator "!=" (AWS IoT SQL writes "<>")',
};

const UNSUPPORTED_WORDS: Record<string, string> = {
  CASE: 'a CASE expression',
  IN: 'the IN operator',
  IS: 'an IS test',
  LIKE: 'the LIKE operator',
  BETWEEN: 'the BETWEEN operator',
};

const FUNCTIONS = new Set(['topic', 'timestamp', 'newuuid']);

// ---------------------------------------------------------------- parser

class Parser {
  private i = 0;

  constructor(private readonly tokens: Token[]) {}

  get current(): Token {
    return this.tokens[this.i];
  }

  next(): Token {
    return this.tokens[this.i++];
  }

  /** The token after the current one. */
  private get following(): Token {
    return this.tokens[Math.min(this.i + 1, this.tokens.length - 1)];
  }

  isWord(text: string): boolean {
    return this.current.type === 'word' && this.current.text.toUpperCase() === text;
  }

  private isSymbol(text: string): boolean {
    return this.current.type === 'symbol' && this.current.text === text;
  }

  expectWord(text: string): void {
    if (!this.isWord(text)) throw new IotSqlError(`expected ${text}, found ${describe(this.current)}`);
    this.i++;
  }

  private expectSymbol(text: string): void {
    if (!this.isSymbol(text)) throw new IotSqlError(`expected "${text}", found ${describe(this.current)}`);
    this.i++;
  }

  /** Refuses, by name, what AWS IoT SQL has but the local run does not evaluate. */
  refuseUnsupported(): void {
    const t = this.current;
    if (t.type === 'symbol' && UNSUPPORTED_SYMBOLS[t.text]) throw new IotSqlError(`${UNSUPPORTED_SYMBOLS[t.text]} is not evaluated locally`);
    if (t.type === 'word' && UNSUPPORTED_WORDS[t.text.toUpperCase()]) throw new IotSqlError(`${UNSUPPORTED_WORDS[t.text.toUpperCase()]} is not evaluated locally`);
  }

  selectList(): SelectItem[] {
    // SELECT VALUE <expression> is the keyword; SELECT value, ... or SELECT value FROM is a field named value.
    const after = this.following;
    const startsExpression = after.type === 'string' || after.type === 'number' || (after.type === 'symbol' && after.text === '(')
      || (after.type === 'word' && !['FROM', 'AS', 'AND', 'OR'].includes(after.text.toUpperCase()));
    if (this.isWord('VALUE') && startsExpression) {
      throw new IotSqlError('SELECT VALUE is not evaluated locally');
    }
    const items: SelectItem[] = [];
    for (;;) {
      const nested = this.pathStar();
      if (this.isSymbol('*')) {
        this.i++;
        items.push({ kind: 'all' });
      } else if (nested) {
        items.push({ kind: 'all', path: nested });
      } else {
        const start = this.current;
        const expression = this.expression();
        let name: string | undefined;
        if (this.isWord('AS')) {
          this.i++;
          const alias = this.next();
          if (alias.type !== 'word') throw new IotSqlError(`AS must be followed by a name, found ${describe(alias)}`);
          name = alias.text;
        } else if (expression.kind === 'path') {
          // AWS IoT names a selected path after its last part: SELECT state.reported.color gives {"color": ...}.
          name = expression.path[expression.path.length - 1];
        } else {
          throw new IotSqlError(`the selected expression at character ${start.at + 1} needs a name (AS <name>) to be evaluated locally`);
        }
        items.push({ kind: 'field', name, expression });
      }
      if (!this.isSymbol(',')) break;
      this.i++;
    }
    return items;
  }

  /** `a.b.*`: consumes it and answers the path, or consumes nothing. */
  private pathStar(): string[] | undefined {
    const path: string[] = [];
    let j = this.i;
    for (;;) {
      const word = this.tokens[j];
      const dot = this.tokens[j + 1];
      if (word.type !== 'word' || dot.type !== 'symbol' || dot.text !== '.') return undefined;
      path.push(word.text);
      const after = this.tokens[j + 2];
      if (after.type === 'symbol' && after.text === '*') {
        this.i = j + 3;
        return path;
      }
      j += 2;
    }
  }

  expression(): Expression {
    let left = this.conjunction();
    while (this.isWord('OR')) {
      this.i++;
      left = { kind: 'logic', op: 'OR', left, right: this.conjunction() };
    }
    return left;
  }

  private conjunction(): Expression {
    let left = this.negation();
    while (this.isWord('AND')) {
      this.i++;
      left = { kind: 'logic', op: 'AND', left, right: this.negation() };
    }
    return left;
  }

  private negation(): Expression {
    if (this.isWord('NOT')) {
      this.i++;
      return { kind: 'not', operand: this.negation() };
    }
    return this.comparison();
  }

  private comparison(): Expression {
    const left = this.primary();
    if (this.isSymbol('*')) throw new IotSqlError('the arithmetic operator "*" is not evaluated locally');
    this.refuseUnsupported();
    const t = this.current;
    if (t.type === 'symbol' && ['=', '<>', '<', '<=', '>', '>='].includes(t.text)) {
      this.i++;
      const right = this.primary();
      this.refuseUnsupported();
      if (this.current.type === 'symbol' && ['=', '<>', '<', '<=', '>', '>='].includes(this.current.text)) {
        throw new IotSqlError(`a chain of comparisons at character ${this.current.at + 1} is not evaluated locally: use parentheses and AND`);
      }
      return { kind: 'compare', op: t.text as '=', left, right };
    }
    return left;
  }

  private primary(): Expression {
    if (!(this.isSymbol('-') && this.following.type === 'number')) this.refuseUnsupported();
    const t = this.next();
    if (t.type === 'string') return { kind: 'literal', value: t.text };
    if (t.type === 'number') return { kind: 'literal', value: Number(t.text) };
    // A negative number; "-" between two operands is arithmetic, refused above.
    if (t.type === 'symbol' && t.text === '-' && this.current.type === 'number') return { kind: 'literal', value: -Number(this.next().text) };
    if (t.type === 'symbol' && t.text === '(') {
      const inner = this.expression();
      this.expectSymbol(')');
      return inner;
    }
    if (t.type === 'symbol' && t.text === '*') throw new IotSqlError('"*" is evaluated locally only as a SELECT item of its own');
    if (t.type !== 'word') throw new IotSqlError(`expected a field, a literal or a function, found ${describe(t)}`);
    const upper = t.text.toUpperCase();
    if (upper === 'TRUE' || upper === 'FALSE') return { kind: 'literal', value: upper === 'TRUE' };
    if (upper === 'NULL') return { kind: 'literal', value: null };
    // VALUE is a keyword after SELECT only: elsewhere it is a field (readings have one).
    if (KEYWORDS.has(upper) && upper !== 'VALUE') throw new IotSqlError(`expected a field, a literal or a function, found ${upper}`);
    if (UNSUPPORTED_WORDS[upper]) throw new IotSqlError(`${UNSUPPORTED_WORDS[upper]} is not evaluated locally`);
    if (this.isSymbol('(')) return this.call(t.text);
    const path = [t.text];
    while (this.isSymbol('.')) {
      this.i++;
      const part = this.next();
      if (part.type !== 'word') throw new IotSqlError(`expected a field name after ".", found ${describe(part)}`);
      path.push(part.text);
    }
    return { kind: 'path', path };
  }

  private call(name: string): Expression {
    this.expectSymbol('(');
    if (!FUNCTIONS.has(name)) {
      throw new IotSqlError(`the function ${name}() is not evaluated locally (only topic(), topic(n), timestamp() and newuuid() are)`);
    }
    if (name === 'topic' && this.current.type === 'number') {
      const level = Number(this.next().text);
      if (!Number.isInteger(level) || level < 1) throw new IotSqlError(`topic(${level}): the level must be a whole number from 1`);
      this.expectSymbol(')');
      return { kind: 'function', name: 'topic', level };
    }
    if (!this.isSymbol(')')) throw new IotSqlError(`${name}() takes ${name === 'topic' ? 'no argument or a level number' : 'no argument'} when evaluated locally`);
    this.i++;
    return { kind: 'function', name: name as 'topic' };
  }
}

function describe(t: Token): string {
  if (t.type === 'end') return 'the end of the SQL';
  if (t.type === 'string') return `'${t.text}' at character ${t.at + 1}`;
  return `"${t.text}" at character ${t.at + 1}`;
}

/** Parses a rule's SQL; an IotSqlError names what it cannot read or evaluate. */
export function parseRuleSql(sql: string): ParsedRuleSql {
  const parser = new Parser(tokenize(sql));
  parser.expectWord('SELECT');
  const select = parser.selectList();
  parser.expectWord('FROM');
  const from = parser.current;
  if (from.type !== 'string') throw new IotSqlError(`FROM must name a topic filter in single quotes, found ${describe(from)}`);
  parser.next();
  const topicFilter = from.text;
  const problem = topicFilterProblem(topicFilter);
  if (problem) throw new IotSqlError(`the topic filter '${topicFilter}' ${problem}`);
  let where: Expression | undefined;
  if (parser.isWord('WHERE')) {
    parser.next();
    where = parser.expression();
  }
  if (parser.current.type !== 'end') throw new IotSqlError(`unexpected ${describe(parser.current)}`);
  if (select.filter((s) => s.kind === 'all' && !s.path).length > 1) throw new IotSqlError('"*" is selected twice');
  return { select, topicFilter, where };
}

/** Parses one expression (a substitution template's inside). */
export function parseExpression(text: string): Expression {
  const parser = new Parser(tokenize(text));
  const expression = parser.expression();
  if (parser.current.type !== 'end') throw new IotSqlError(`unexpected ${describe(parser.current)}`);
  return expression;
}

// ---------------------------------------------------------------- topics

/** Why a topic filter is not one, or undefined when it is (MQTT: "+" a whole level, "#" the whole last level). */
export function topicFilterProblem(filter: string): string | undefined {
  if (filter.length === 0) return 'is empty';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i];
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) return 'may hold "#" only as its whole last level';
    if (level.includes('+') && level !== '+') return 'may hold "+" only as a whole level';
  }
  return undefined;
}

/**
 * Whether a topic matches an MQTT topic filter: "+" matches one level (an
 * empty one too), "#" the parent level and every level below it; a filter
 * starting with a wildcard does not match a topic starting with "$" (MQTT
 * 3.1.1, 4.7.2).
 */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return true;
    if (i >= t.length) return false;
    if (f[i] !== '+' && f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}

// ---------------------------------------------------------------- evaluation

type Kind = 'number' | 'string' | 'boolean' | 'null' | 'array' | 'object' | 'undefined';

function kindOf(v: SqlValue): Kind {
  if (v === UNDEFINED || v === undefined) return 'undefined';
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  const t = typeof v;
  if (t === 'number' || t === 'string' || t === 'boolean') return t;
  return 'object';
}

/** A string AWS IoT converts to Decimal: a plain decimal number. */
function toDecimal(v: SqlValue): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$/.test(v)) return Number(v);
  return undefined;
}

/** Boolean operands: booleans, or the strings "true"/"false" in any case; else Undefined. */
function toBoolean(v: SqlValue): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string' && /^(true|false)$/i.test(v)) return v.toLowerCase() === 'true';
  return undefined;
}

function deepEqual(a: SqlValue, b: SqlValue): boolean {
  const ka = kindOf(a);
  if (ka !== kindOf(b)) return false;
  if (ka === 'array') {
    const x = a as unknown[];
    const y = b as unknown[];
    return x.length === y.length && x.every((v, i) => deepEqual(v, y[i]));
  }
  if (ka === 'object') {
    const x = a as Record<string, unknown>;
    const y = b as Record<string, unknown>;
    const keys = Object.keys(x);
    return keys.length === Object.keys(y).length && keys.every((k) => k in y && deepEqual(x[k], y[k]));
  }
  return a === b;
}

function compare(op: string, a: SqlValue, b: SqlValue): SqlValue {
  if (kindOf(a) === 'undefined' || kindOf(b) === 'undefined') return UNDEFINED;
  if (op === '=' || op === '<>') {
    // Mismatched types are unequal, not Undefined (the "=" operator's table).
    const equal = deepEqual(a, b);
    return op === '=' ? equal : !equal;
  }
  // Ordering converts both operands to Decimal; anything else has no order.
  const x = toDecimal(a);
  const y = toDecimal(b);
  if (x === undefined || y === undefined) return UNDEFINED;
  switch (op) {
    case '<': return x < y;
    case '<=': return x <= y;
    case '>': return x > y;
    default: return x >= y;
  }
}

export function evaluate(e: Expression, m: MessageContext): SqlValue {
  switch (e.kind) {
    case 'literal': return e.value;
    case 'path': {
      let v: SqlValue = m.document;
      for (const part of e.path) {
        if (kindOf(v) !== 'object' || !Object.prototype.hasOwnProperty.call(v, part)) return UNDEFINED;
        v = (v as Record<string, unknown>)[part];
      }
      return v;
    }
    case 'function':
      switch (e.name) {
        case 'topic': {
          if (e.level === undefined) return m.topic;
          const levels = m.topic.split('/');
          return e.level <= levels.length ? levels[e.level - 1] : UNDEFINED;
        }
        case 'timestamp': return m.receivedAt;
        case 'newuuid': return randomUUID();
      }
      return UNDEFINED;
    case 'compare': return compare(e.op, evaluate(e.left, m), evaluate(e.right, m));
    case 'logic': {
      const a = toBoolean(evaluate(e.left, m));
      const b = toBoolean(evaluate(e.right, m));
      if (a === undefined || b === undefined) return UNDEFINED;
      return e.op === 'AND' ? a && b : a || b;
    }
    case 'not': {
      const v = toBoolean(evaluate(e.operand, m));
      return v === undefined ? UNDEFINED : !v;
    }
  }
}

/** The payload a rule's SELECT gives for a message, or undefined when its WHERE does not hold. */
export function applyRuleSql(sql: ParsedRuleSql, m: MessageContext, payload: Buffer): Buffer | undefined {
  if (sql.where && evaluate(sql.where, m) !== true) return undefined;
  // SELECT * alone passes the payload as published, whatever it is (JSON or binary).
  if (sql.select.length === 1 && sql.select[0].kind === 'all' && !sql.select[0].path) return payload;
  const out: Record<string, unknown> = {};
  // Items in their order, a later one overwriting a field an earlier one made.
  for (const item of sql.select) {
    if (item.kind === 'all') {
      const object = item.path ? evaluate({ kind: 'path', path: item.path }, m) : m.document;
      // The fields of a nested object that is not there: none.
      if (item.path && object === UNDEFINED) continue;
      if (kindOf(object) !== 'object') {
        throw new IotSqlError(item.path
          ? `"${item.path.join('.')}.*" needs ${item.path.join('.')} to be a JSON object`
          : '"*" with other SELECT items needs a payload that is a JSON object');
      }
      Object.assign(out, object);
      continue;
    }
    const v = evaluate(item.expression, m);
    // Undefined is left out of the JSON output.
    if (v !== UNDEFINED) out[item.name] = v;
  }
  return Buffer.from(JSON.stringify(out), 'utf8');
}

/** The message's JSON document, or UNDEFINED for a payload that is not JSON. */
export function documentOf(payload: Buffer): SqlValue {
  if (payload.length === 0) return UNDEFINED;
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    return UNDEFINED;
  }
}

// ---------------------------------------------------------------- substitution templates

export type TemplatePart = string | Expression;

/** Splits an action field into text and `${expression}` parts; an IotSqlError names the expression it cannot evaluate. */
export function parseTemplate(text: string): TemplatePart[] {
  const parts: TemplatePart[] = [];
  let i = 0;
  while (i < text.length) {
    const start = text.indexOf('${', i);
    if (start < 0) {
      parts.push(text.slice(i));
      break;
    }
    if (start > i) parts.push(text.slice(i, start));
    const end = text.indexOf('}', start);
    if (end < 0) throw new IotSqlError(`the substitution template starting at character ${start + 1} is not closed`);
    const inner = text.slice(start + 2, end);
    try {
      parts.push(parseExpression(inner));
    } catch (err) {
      throw new IotSqlError(`\${${inner}}: ${(err as Error).message}`);
    }
    i = end + 1;
  }
  return parts;
}

/**
 * Renders a template against the original message (AWS IoT evaluates
 * substitution templates apart from the SELECT, on the message as
 * published): Undefined renders as an empty string, objects and arrays as JSON.
 */
export function renderTemplate(parts: readonly TemplatePart[], m: MessageContext): string {
  return parts.map((p) => {
    if (typeof p === 'string') return p;
    const v = evaluate(p, m);
    if (v === UNDEFINED || v === undefined) return '';
    if (typeof v === 'string') return v;
    return typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
  }).join('');
}
