// A tokenizer and evaluator for small arithmetic expressions: numbers, names, + - * / ^ ( ).

export class TokenizeError extends Error {
  constructor(message, position) {
    super(`${message} at position ${position}`);
    this.name = 'TokenizeError';
    this.position = position;
  }
}

const OPERATORS = new Set(['+', '-', '*', '/', '^', '(', ')', ',']);

/**
 * Split an expression into tokens {type, value, pos}.
 * @param {string} source
 * @returns {{type: string, value: string|number, pos: number}[]}
 */
export function tokenize(source) {
  if (typeof source !== 'string') {
    throw new TypeError('source must be a string');
  }
  const tokens = [];
  let i = 0;
  while (i < source.length) {
    const ch = source[i];
    if (ch === ' ' || ch === '\t' || ch === '\n') {
      i += 1;
    } else if (/[0-9.]/.test(ch)) {
      const start = i;
      let dots = 0;
      while (i < source.length && /[0-9.]/.test(source[i])) {
        if (source[i] === '.') dots += 1;
        i += 1;
      }
      if (dots > 1) throw new TokenizeError('malformed number', start);
      const text = source.slice(start, i);
      if (text === '.') throw new TokenizeError('lonely dot', start);
      tokens.push({ type: 'number', value: Number(text), pos: start });
    } else if (/[A-Za-z_]/.test(ch)) {
      const start = i;
      while (i < source.length && /[A-Za-z0-9_]/.test(source[i])) i += 1;
      tokens.push({ type: 'name', value: source.slice(start, i), pos: start });
    } else if (OPERATORS.has(ch)) {
      tokens.push({ type: ch === '(' || ch === ')' ? 'paren' : 'op', value: ch, pos: i });
      i += 1;
    } else {
      throw new TokenizeError(`unexpected character '${ch}'`, i);
    }
  }
  return tokens;
}

const PRECEDENCE = { '+': 1, '-': 1, '*': 2, '/': 2, '^': 3 };

/** Shunting-yard: infix tokens to reverse Polish notation. */
export function toRpn(tokens) {
  const output = [];
  const stack = [];
  for (const token of tokens) {
    if (token.type === 'number' || token.type === 'name') {
      output.push(token);
    } else if (token.value === '(') {
      stack.push(token);
    } else if (token.value === ')') {
      while (stack.length && stack[stack.length - 1].value !== '(') output.push(stack.pop());
      if (!stack.length) throw new TokenizeError('unbalanced )', token.pos);
      stack.pop();
    } else if (token.value in PRECEDENCE) {
      while (stack.length) {
        const top = stack[stack.length - 1];
        if (!(top.value in PRECEDENCE)) break;
        const higher = PRECEDENCE[top.value] > PRECEDENCE[token.value];
        const equalLeft = PRECEDENCE[top.value] === PRECEDENCE[token.value] && token.value !== '^';
        if (!higher && !equalLeft) break;
        output.push(stack.pop());
      }
      stack.push(token);
    }
  }
  while (stack.length) {
    const token = stack.pop();
    if (token.value === '(') throw new TokenizeError('unbalanced (', token.pos);
    output.push(token);
  }
  return output;
}

/** Evaluate an expression with optional variables: evaluate('x * 2', {x: 4}) === 8. */
export function evaluate(source, variables = {}) {
  const stack = [];
  for (const token of toRpn(tokenize(source))) {
    if (token.type === 'number') {
      stack.push(token.value);
    } else if (token.type === 'name') {
      if (!(token.value in variables)) throw new ReferenceError(`unknown variable ${token.value}`);
      stack.push(variables[token.value]);
    } else {
      if (stack.length < 2) throw new TokenizeError('missing operand', token.pos);
      const b = stack.pop();
      const a = stack.pop();
      switch (token.value) {
        case '+': stack.push(a + b); break;
        case '-': stack.push(a - b); break;
        case '*': stack.push(a * b); break;
        case '/':
          if (b === 0) throw new RangeError('division by zero');
          stack.push(a / b);
          break;
        default: stack.push(a ** b);
      }
    }
  }
  if (stack.length !== 1) throw new TokenizeError('malformed expression', 0);
  return stack[0];
}
