// Syntax highlighting: one small scanner, driven by a description of each language (its comments,
// strings, keywords and a few special forms). It marks keywords, literals, strings, comments,
// numbers, function names, type-like names and annotations; everything else stays plain text.
// The output is HTML in which every piece of the source is escaped.

const words = (text) => new Set(text.trim().split(/\s+/));

const C_COMMENTS = { line: ['//'], block: [['/*', '*/']] };
const DOUBLE = { open: '"', close: '"' };
const SINGLE = { open: "'", close: "'" };

const JS_KEYWORDS = `async await break case catch class const continue debugger default delete do else
  export extends finally for function if import in instanceof let new of return static super switch
  this throw try typeof var void while with yield get set from as`;

const LANGUAGES = {
  python: {
    line: ['#'],
    block: [],
    strings: [
      { open: '"""', close: '"""', multiline: true },
      { open: "'''", close: "'''", multiline: true },
      DOUBLE,
      SINGLE,
    ],
    stringPrefix: /^(?:[rRbBuUfF]|[rR][bBfF]|[bBfF][rR])$/,
    keywords: words(`and as assert async await break class continue def del elif else except finally
      for from global if import in is lambda nonlocal not or pass raise return try while with yield
      match case`),
    literals: words('True False None self cls NotImplemented Ellipsis'),
    types: words('int float str bool bytes list dict set tuple object type Exception'),
    annotation: true,
  },
  java: {
    ...C_COMMENTS,
    strings: [{ open: '"""', close: '"""', multiline: true }, DOUBLE, SINGLE],
    keywords: words(`abstract assert break case catch class const continue default do else enum
      extends final finally for goto if implements import instanceof interface native new package
      private protected public return static strictfp super switch synchronized this throw throws
      transient try volatile while var record yield sealed permits`),
    literals: words('true false null'),
    types: words('boolean byte char double float int long short void String Object'),
    annotation: true,
  },
  go: {
    ...C_COMMENTS,
    strings: [{ open: '`', close: '`', multiline: true, raw: true }, DOUBLE, SINGLE],
    keywords: words(`break case chan const continue default defer else fallthrough for func go goto
      if import interface map package range return select struct switch type var`),
    literals: words('true false nil iota'),
    types: words(`bool byte complex64 complex128 error float32 float64 int int8 int16 int32 int64
      rune string uint uint8 uint16 uint32 uint64 uintptr any`),
  },
  cpp: {
    ...C_COMMENTS,
    strings: [DOUBLE, SINGLE],
    rawStrings: 'cpp',
    keywords: words(`alignas alignof auto break case catch class concept const consteval constexpr
      constinit const_cast continue co_await co_return co_yield decltype default delete do
      dynamic_cast else enum explicit export extern final for friend goto if inline mutable
      namespace new noexcept operator override private protected public register
      reinterpret_cast requires return sizeof static static_assert static_cast struct switch
      template this thread_local throw try typedef typeid typename union using virtual volatile
      while`),
    literals: words('true false nullptr NULL'),
    types: words(`bool char char8_t char16_t char32_t double float int long short signed unsigned
      void wchar_t size_t std string vector`),
    preprocessor: true,
  },
  csharp: {
    ...C_COMMENTS,
    strings: [
      { open: '@"', close: '"', multiline: true, raw: true, doubledQuote: true },
      { open: '$@"', close: '"', multiline: true, raw: true, doubledQuote: true },
      { open: '$"', close: '"' },
      DOUBLE,
      SINGLE,
    ],
    keywords: words(`abstract as base break case catch checked class const continue default
      delegate do else enum event explicit extern finally fixed for foreach goto if implicit in
      interface internal is lock namespace new operator out override params private protected
      public readonly ref return sealed sizeof stackalloc static struct switch this throw try
      typeof unchecked unsafe using virtual volatile while async await var record get set init
      yield where`),
    literals: words('true false null'),
    types: words(`bool byte char decimal double float int long object sbyte short string uint ulong
      ushort void`),
    preprocessor: true,
  },
  rust: {
    ...C_COMMENTS,
    strings: [DOUBLE],
    rawStrings: 'rust',
    charOrLifetime: true,
    keywords: words(`as async await break const continue crate dyn else enum extern fn for if impl
      in let loop match mod move mut pub ref return self Self static struct super trait type
      unsafe use where while`),
    literals: words('true false Some None Ok Err'),
    types: words(`i8 i16 i32 i64 i128 isize u8 u16 u32 u64 u128 usize f32 f64 bool char str String
      Vec Option Result Box`),
    macros: true,
    annotation: false,
  },
  javascript: {
    ...C_COMMENTS,
    strings: [{ open: '`', close: '`', multiline: true }, DOUBLE, SINGLE],
    keywords: words(JS_KEYWORDS),
    literals: words('true false null undefined NaN Infinity'),
    types: words(''),
    annotation: true,
  },
  typescript: {
    ...C_COMMENTS,
    strings: [{ open: '`', close: '`', multiline: true }, DOUBLE, SINGLE],
    keywords: words(`${JS_KEYWORDS} abstract declare enum implements interface keyof namespace
      private protected public readonly type is asserts satisfies override infer`),
    literals: words('true false null undefined NaN Infinity'),
    types: words('any boolean never number object string symbol unknown void bigint'),
    annotation: true,
  },
};

const IDENTIFIER = /[\p{L}_$][\p{L}\p{N}_$]*/uy;
const NUMBER = /(?:0[xX][\da-fA-F_']+|0[bB][01_']+|0[oO][0-7_]+|(?:\d[\d_']*\.?[\d_']*|\.\d[\d_']*)(?:[eE][+-]?\d[\d_]*)?)[\p{L}\d_]*/uy;
const CHAR_LITERAL = /'(?:\\(?:x[\da-fA-F]{2}|u\{[\da-fA-F]{1,6}\}|.)|[^\\'\n])'/uy;
const LIFETIME = /'[\p{L}_][\p{L}\p{N}_]*/uy;
const RUST_RAW = /b?r(#*)"/y;
const CPP_RAW = /(?:u8|[uUL])?R"([^()\\\s]{0,16})\(/y;
const IDENTIFIER_CHAR = /[\p{L}\p{N}_$]/u;

export function escapeHtml(text) {
  return text.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

/** Whether `language` (an API language id) has a highlighter. */
export function knows(language) {
  return Object.hasOwn(LANGUAGES, language);
}

/** The HTML of `text` highlighted as `language` (plain escaped text for an unknown language). */
export function highlight(text, language) {
  const spec = LANGUAGES[language];
  if (!spec) {
    return escapeHtml(text);
  }
  return new Scanner(text, spec).run();
}

class Scanner {
  constructor(text, spec) {
    this.text = text;
    this.spec = spec;
    this.out = [];
    this.plainFrom = 0;
  }

  run() {
    const { text } = this;
    let i = 0;
    while (i < text.length) {
      const end = this.token(i);
      i = end > i ? end : i + 1;
    }
    this.flushPlain(text.length);
    return this.out.join('');
  }

  flushPlain(to) {
    if (to > this.plainFrom) {
      this.out.push(escapeHtml(this.text.slice(this.plainFrom, to)));
    }
  }

  emit(kind, from, to) {
    this.flushPlain(from);
    this.out.push(`<span class="tok-${kind}">${escapeHtml(this.text.slice(from, to))}</span>`);
    this.plainFrom = to;
    return to;
  }

  /** Marks the token starting at `i`, if any; returns where scanning goes on (`i` = plain char). */
  token(i) {
    const { text, spec } = this;
    const c = text[i];
    if (c === '\n' || c === ' ' || c === '\t') {
      return i;
    }
    for (const marker of spec.line) {
      if (text.startsWith(marker, i)) {
        const end = text.indexOf('\n', i);
        return this.emit('com', i, end < 0 ? text.length : end);
      }
    }
    for (const [open, close] of spec.block) {
      if (text.startsWith(open, i)) {
        const end = text.indexOf(close, i + open.length);
        return this.emit('com', i, end < 0 ? text.length : end + close.length);
      }
    }
    if (spec.preprocessor && c === '#' && this.atLineStart(i)) {
      const end = text.indexOf('\n', i);
      return this.emit('meta', i, end < 0 ? text.length : end);
    }
    const raw = this.rawString(i);
    if (raw > i) {
      return this.emit('str', i, raw);
    }
    if (spec.charOrLifetime && c === "'") {
      CHAR_LITERAL.lastIndex = i;
      if (CHAR_LITERAL.test(text)) {
        return this.emit('str', i, CHAR_LITERAL.lastIndex);
      }
      LIFETIME.lastIndex = i;
      if (LIFETIME.test(text)) {
        return this.emit('lit', i, LIFETIME.lastIndex);
      }
      return i;
    }
    const string = this.string(i);
    if (string > i) {
      return this.emit('str', i, string);
    }
    if (spec.annotation && c === '@' && IDENTIFIER_CHAR.test(text[i + 1] || '')) {
      IDENTIFIER.lastIndex = i + 1;
      if (IDENTIFIER.test(text)) {
        let end = IDENTIFIER.lastIndex;
        // Dotted names: `@pytest.mark.parametrize`, `@org.junit.Test`.
        while (text[end] === '.' && IDENTIFIER_CHAR.test(text[end + 1] || '')) {
          IDENTIFIER.lastIndex = end + 1;
          if (!IDENTIFIER.test(text)) {
            break;
          }
          end = IDENTIFIER.lastIndex;
        }
        return this.emit('meta', i, end);
      }
    }
    const previous = i > 0 ? text[i - 1] : '';
    if (/[\d.]/.test(c) && !IDENTIFIER_CHAR.test(previous) && (c !== '.' || /\d/.test(text[i + 1] || ''))) {
      NUMBER.lastIndex = i;
      if (NUMBER.test(text) && NUMBER.lastIndex > i) {
        return this.emit('num', i, NUMBER.lastIndex);
      }
    }
    IDENTIFIER.lastIndex = i;
    if (!IDENTIFIER_CHAR.test(previous) && IDENTIFIER.test(text)) {
      const end = IDENTIFIER.lastIndex;
      const word = text.slice(i, end);
      // A string prefix (`f"…"`, `rb'…'`) belongs to its string.
      if (spec.stringPrefix && spec.stringPrefix.test(word)) {
        const after = this.string(end);
        if (after > end) {
          return this.emit('str', i, after);
        }
      }
      return this.word(word, i, end);
    }
    return i;
  }

  word(word, from, to) {
    const { spec, text } = this;
    if (spec.keywords.has(word)) {
      return this.emit('kw', from, to);
    }
    if (spec.literals.has(word)) {
      return this.emit('lit', from, to);
    }
    if (spec.types.has(word)) {
      return this.emit('type', from, to);
    }
    let next = to;
    while (text[next] === ' ' || text[next] === '\t') {
      next += 1;
    }
    if (text[next] === '(' || (spec.macros && text[to] === '!' && text[to + 1] !== '=')) {
      return this.emit('fn', from, spec.macros && text[to] === '!' ? to + 1 : to);
    }
    if (/^\p{Lu}/u.test(word) && /\p{Ll}/u.test(word)) {
      return this.emit('type', from, to);
    }
    // A plain identifier: skipped whole, so its inner letters are not looked at again.
    return to;
  }

  atLineStart(i) {
    for (let j = i - 1; j >= 0; j -= 1) {
      const c = this.text[j];
      if (c === '\n') {
        return true;
      }
      if (c !== ' ' && c !== '\t') {
        return false;
      }
    }
    return true;
  }

  /** The end of the string starting at `i`, or `i` when none starts there. */
  string(i) {
    const { text } = this;
    for (const kind of this.spec.strings) {
      if (!text.startsWith(kind.open, i)) {
        continue;
      }
      let j = i + kind.open.length;
      while (j < text.length) {
        const c = text[j];
        if (c === '\\' && !kind.raw) {
          j += 2;
          continue;
        }
        if (text.startsWith(kind.close, j)) {
          if (kind.doubledQuote && text[j + 1] === '"') {
            j += 2;
            continue;
          }
          return j + kind.close.length;
        }
        if (c === '\n' && !kind.multiline) {
          return j;
        }
        j += 1;
      }
      return text.length;
    }
    return i;
  }

  /** Rust's `r#"…"#` and C++'s `R"delim(…)delim"`. */
  rawString(i) {
    const { text, spec } = this;
    if (spec.rawStrings === 'rust') {
      RUST_RAW.lastIndex = i;
      const match = RUST_RAW.exec(text);
      if (match && !IDENTIFIER_CHAR.test(i > 0 ? text[i - 1] : '')) {
        const close = `"${match[1]}`;
        const end = text.indexOf(close, RUST_RAW.lastIndex);
        return end < 0 ? text.length : end + close.length;
      }
    } else if (spec.rawStrings === 'cpp') {
      CPP_RAW.lastIndex = i;
      const match = CPP_RAW.exec(text);
      if (match && !IDENTIFIER_CHAR.test(i > 0 ? text[i - 1] : '')) {
        const close = `)${match[1]}"`;
        const end = text.indexOf(close, CPP_RAW.lastIndex);
        return end < 0 ? text.length : end + close.length;
      }
    }
    return i;
  }
}
