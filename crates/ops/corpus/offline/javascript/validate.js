// Sign-up form validation (ES module): e-mail, password rules, age, username.

const EMAIL = /^[^\s@]+@[^\s@]+\.[a-z]{2,}$/i;
const RESERVED = new Set(['admin', 'root', 'support', 'null']);

export class ValidationError extends Error {
  constructor(field, reasons) {
    super(`${field}: ${reasons.join(', ')}`);
    this.name = 'ValidationError';
    this.field = field;
    this.reasons = reasons;
  }
}

export function isEmail(value) {
  return typeof value === 'string' && value.length <= 254 && EMAIL.test(value);
}

/** Every rule the password breaks; an empty array means it is acceptable. */
export function passwordProblems(password, { minLength = 8, username = '' } = {}) {
  const problems = [];
  if (password.length < minLength) problems.push(`shorter than ${minLength}`);
  if (!/[a-z]/.test(password)) problems.push('no lower-case letter');
  if (!/[A-Z]/.test(password)) problems.push('no upper-case letter');
  if (!/\d/.test(password)) problems.push('no digit');
  if (/(.)\1\1/.test(password)) problems.push('three repeated characters');
  if (username && password.toLowerCase().includes(username.toLowerCase())) {
    problems.push('contains the username');
  }
  return problems;
}

export function usernameProblems(name) {
  const problems = [];
  if (name.length < 3 || name.length > 20) problems.push('must be 3 to 20 characters');
  if (!/^[a-z][a-z0-9_]*$/i.test(name)) problems.push('letters, digits and _ only, starting with a letter');
  if (RESERVED.has(name.toLowerCase())) problems.push('reserved');
  return problems;
}

export function ageFromYears(birthYear, currentYear) {
  if (!Number.isInteger(birthYear) || !Number.isInteger(currentYear)) {
    throw new TypeError('years must be integers');
  }
  const age = currentYear - birthYear;
  if (age < 0 || age > 150) throw new RangeError(`implausible age ${age}`);
  return age;
}

/** Validate a whole form; throws the first ValidationError, else returns a clean copy. */
export function validateSignup(form) {
  const email = String(form.email ?? '').trim().toLowerCase();
  if (!isEmail(email)) throw new ValidationError('email', ['invalid address']);
  const nameProblems = usernameProblems(String(form.username ?? ''));
  if (nameProblems.length) throw new ValidationError('username', nameProblems);
  const pwProblems = passwordProblems(String(form.password ?? ''), { username: form.username });
  if (pwProblems.length) throw new ValidationError('password', pwProblems);
  const age = ageFromYears(form.birthYear, form.currentYear);
  return { email, username: form.username, adult: age >= 18 };
}
