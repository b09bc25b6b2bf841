// String helpers (ES module): casing, padding, templating, Levenshtein distance.

/** "hello world" -> "Hello World" */
export function titleCase(text) {
  return text
    .split(/\s+/)
    .filter(Boolean)
    .map((word) => word[0].toUpperCase() + word.slice(1).toLowerCase())
    .join(' ');
}

/** "someVariableName" / "some-variable name" -> "some_variable_name" */
export function snakeCase(text) {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/[\s-]+/g, '_')
    .replace(/[^A-Za-z0-9_]/g, '')
    .toLowerCase();
}

export function camelCase(text) {
  const parts = text.split(/[\s_-]+/).filter(Boolean);
  if (parts.length === 0) return '';
  return parts
    .map((p, i) => (i === 0 ? p.toLowerCase() : p[0].toUpperCase() + p.slice(1).toLowerCase()))
    .join('');
}

/** Fill {name} placeholders; unknown names throw unless `strict` is false. */
export function template(text, values, strict = true) {
  return text.replace(/\{(\w+)\}/g, (match, key) => {
    if (Object.prototype.hasOwnProperty.call(values, key)) return String(values[key]);
    if (strict) throw new Error(`missing value for ${key}`);
    return match;
  });
}

export function levenshtein(a, b) {
  if (a === b) return 0;
  if (!a.length) return b.length;
  if (!b.length) return a.length;
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost));
    }
    previous = current;
  }
  return previous[b.length];
}

/** Pick the closest candidate, or null when nothing is within maxDistance. */
export function suggest(word, candidates, maxDistance = 2) {
  let best = null;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = levenshtein(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance || (d === bestDistance && candidate < best)) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= maxDistance ? best : null;
}

export function padCenter(text, width, fill = ' ') {
  if (fill.length !== 1) throw new RangeError('fill must be a single character');
  if (text.length >= width) return text;
  const total = width - text.length;
  const left = Math.floor(total / 2);
  return fill.repeat(left) + text + fill.repeat(total - left);
}
