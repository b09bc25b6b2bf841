// The source editor and the read-only code viewer.
//
// The editor is a plain <textarea> (so typing, selection, undo, paste and screen readers behave as
// everywhere else) laid exactly over a highlighted <pre> of the same text, font and spacing; the
// textarea's own glyphs are transparent, so the colours underneath show through. Both sit in one
// grid cell, which sizes to the longer of the two; the box around them scrolls, with a line-number
// gutter that stays at the left edge.

import { escapeHtml, highlight } from './highlight.js';

/** Beyond this many characters, text is shown without colours: highlighting on every keystroke
 *  would make typing lag. */
const HIGHLIGHT_LIMIT = 200000;

function lineCount(text) {
  let lines = 1;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) {
    lines += 1;
  }
  return lines;
}

class Gutter {
  constructor(element) {
    this.element = element;
    this.lines = 0;
  }

  show(lines) {
    if (lines === this.lines) {
      return;
    }
    this.lines = lines;
    const numbers = new Array(lines);
    for (let i = 0; i < lines; i += 1) {
      numbers[i] = i + 1;
    }
    this.element.textContent = numbers.join('\n');
  }
}

function render(text, language) {
  return text.length <= HIGHLIGHT_LIMIT ? highlight(text, language) : escapeHtml(text);
}

export class CodeEditor {
  /** `textarea`, `layer` (the highlighted <pre>), `gutter` (the line numbers <pre>). */
  constructor({ textarea, layer, gutter, onChange }) {
    this.textarea = textarea;
    this.layer = layer;
    this.gutter = new Gutter(gutter);
    this.language = null;
    this.onChange = onChange;
    this.frame = 0;
    textarea.addEventListener('input', () => this.schedule());
    this.render();
  }

  get value() {
    return this.textarea.value;
  }

  set value(text) {
    this.textarea.value = text;
    this.textarea.setSelectionRange(0, 0);
    this.render();
  }

  setLanguage(language) {
    if (language !== this.language) {
      this.language = language;
      this.render();
    }
  }

  focus() {
    this.textarea.focus();
  }

  schedule() {
    if (!this.frame) {
      this.frame = requestAnimationFrame(() => {
        this.frame = 0;
        this.render();
      });
    }
  }

  render() {
    const text = this.textarea.value;
    // A final newline would leave the textarea one line taller than the <pre>: a space keeps the
    // last (empty) line in the layer too.
    this.layer.innerHTML = `${render(text, this.language)}\n `;
    this.gutter.show(lineCount(text));
    this.onChange?.(text);
  }
}

export class CodeView {
  constructor({ code, gutter }) {
    this.code = code;
    this.gutter = new Gutter(gutter);
    this.text = '';
  }

  show(text, language) {
    this.text = text;
    this.code.innerHTML = render(text, language);
    this.gutter.show(text === '' ? 0 : lineCount(text.replace(/\n$/, '')));
  }

  clear() {
    this.show('', null);
  }
}
