/**
 * The default job processor: reads a User Requirements Specification written as plain text and
 * drafts one traceable test case per requirement.
 *
 * Documents are untrusted and up to 1 MiB, and the worker runs this synchronously, so everything
 * here is a single pass over the lines; every regular expression is anchored or has bounded
 * repetition, because a backtracking pattern on one pathological line would stall the worker.
 */

export interface Requirement { id: string; text: string; line: number }
export interface TestCase { id: string; requirementId: string; requirement: string; title: string; steps: string[]; expectedResult: string }
export interface UrsResult { requirementCount: number; testCases: TestCase[] }

/** The document itself is unusable; the message is shown to the submitter, so it says how to fix it. */
export class UrsProcessingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UrsProcessingError';
  }
}

// `-`, `*`, `+`, `•`, `1.`, `1)`, `3.1`, `3.1.2.`, `a)`, `(a)`, `(iv)`.
const BULLET_RE = /^(?:[-*+•‣◦]|\d{1,9}(?:\.\d{1,9}){0,9}[.)]|\d{1,9}(?:\.\d{1,9}){1,9}|[a-zA-Z]\)|\([a-zA-Z0-9]{1,4}\))[ \t]+/;
// Optionally wrapped as `[URS-001]`, `(URS-001)` or markdown bold `**URS-001**`.
const ID_RE = /^(?:\*\*|\[|\()?([A-Za-z]{1,16}-\d{1,9}(?:\.\d{1,9}){0,9})(?:\*\*|\]|\))?/;
const ID_DELIMITERS = /^[\s:.\-–—)\]]{1,16}/;
// Prefixes that are requirement ids even when prose follows in lower case ("URS-001 the system ...").
const KNOWN_PREFIXES = new Set(['URS', 'UR', 'REQ', 'FR', 'NFR', 'SR', 'FS', 'DS', 'CR', 'UC']);
const SHALL_RE = /\b(?:shall|must)\b(?!-)/i; // "must-have" is an adjective, not an obligation
const MODAL_RE = /\b(shall|must|should|will)(?:[ \t]{1,4}(not))?\b(?!-)/i;
const CONDITION_RE = /^(?:when|whenever|if|upon|after|before|during|while|once)\b/i;
const ABBREVIATIONS = new Set(['e.g', 'i.e', 'vs', 'approx', 'cf', 'incl', 'ref', 'fig', 'sect']);
const ADVERBS = new Set(['also', 'only', 'always', 'never', 'still', 'immediately', 'automatically', 'securely']);

interface Block { id: string | null; parts: string[]; lines: number[]; last: string; lastIndented: boolean }

/** Returns the id when the line opens with one; `SHA-256 hashes must ...` is prose, not requirement SHA-256. */
function matchId(body: string): { id: string; rest: string } | null {
  const m = ID_RE.exec(body);
  if (!m) return null;
  const rest = body.slice(m[0].length);
  const opensProse = rest.length > 1 && /^\s[a-z]/.test(rest.slice(0, 2));
  const prefix = m[1].slice(0, m[1].indexOf('-')).toUpperCase();
  if (rest !== '' && !ID_DELIMITERS.test(rest)) return null;
  if (opensProse && !KNOWN_PREFIXES.has(prefix)) return null;
  return { id: m[1].toUpperCase(), rest: rest.replace(ID_DELIMITERS, '') };
}

function endsSentence(s: string): boolean {
  const c = s.charAt(s.length - 1);
  return c === '.' || c === '!' || c === '?' || c === ';';
}

/** Splits prose into sentences by scanning once; `e.g.` and decimals such as `1.5` do not end one. */
function splitSentences(text: string, max = Infinity): { start: number; text: string }[] {
  const out: { start: number; text: string }[] = [];
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== '.' && c !== '!' && c !== '?') continue;
    if (i + 1 < text.length && text[i + 1] !== ' ' && text[i + 1] !== '\t') continue;
    if (c === '.') {
      let j = i;
      while (j > 0 && i - j < 8 && /[A-Za-z.]/.test(text[j - 1])) j--;
      if (ABBREVIATIONS.has(text.slice(j, i).toLowerCase())) continue;
    }
    out.push({ start, text: text.slice(start, i + 1) });
    start = i + 1;
    if (out.length >= max) return out;
  }
  if (start < text.length) out.push({ start, text: text.slice(start) });
  return out;
}

export function extractRequirements(document: string): Requirement[] {
  const found: Requirement[] = [];
  const seen = new Map<string, number>();
  let autoCount = 0;
  const add = (rawId: string | null, text: string, line: number) => {
    const clean = text.replace(/\s+/g, ' ').trim();
    if (clean === '') return;
    const base = rawId ?? `REQ-AUTO-${String(++autoCount).padStart(3, '0')}`;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    // Later duplicates stay visible (suffixed) rather than silently dropped: a reviewer must see them.
    found.push({ id: n === 1 ? base : `${base}#${n}`, text: clean, line });
  };

  let block: Block | null = null;
  const flush = () => {
    if (!block) return;
    const b = block;
    block = null;
    const joined = b.parts.join(' ');
    if (b.id !== null) return add(b.id, joined, b.lines[0]);
    // Unidentified prose: each obligation sentence is its own requirement, at the line it starts on.
    let part = 0;
    let partStart = 0;
    for (const s of splitSentences(joined)) {
      const lead = s.text.length - s.text.trimStart().length;
      while (part + 1 < b.parts.length && partStart + b.parts[part].length + 1 <= s.start + lead) {
        partStart += b.parts[part].length + 1;
        part++;
      }
      // Questions ("Must the audit trail ...?") are open points, not requirements.
      if (SHALL_RE.test(s.text) && !s.text.trimEnd().endsWith('?')) add(null, s.text, b.lines[part]);
    }
  };

  const lines = document.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i].trimEnd();
    const body0 = raw.trimStart();
    if (body0 === '' || body0.startsWith('#')) { flush(); continue; } // blank lines and headings end a paragraph
    const indented = body0.length < raw.length;
    const bullet = BULLET_RE.exec(body0);
    const body = bullet ? body0.slice(bullet[0].length) : body0;
    const idMatch = matchId(body);
    if (idMatch) {
      flush();
      block = { id: idMatch.id, parts: [idMatch.rest], lines: [i + 1], last: idMatch.rest, lastIndented: false };
      continue;
    }
    const cur = block as Block | null;
    // Indented lines continue the paragraph above; an unindented one only if the line before it was
    // at the same level and cut mid-sentence. Indented sub-bullets belong to an identified requirement.
    const continues = cur !== null && (indented
      ? !bullet || cur.id !== null
      : !bullet && !cur.lastIndented && !endsSentence(cur.last));
    if (continues) {
      // Sub-bullets become a "; "-separated list, so "support: - PDF - CSV" reads "support: PDF; CSV".
      if (bullet && cur.last !== '' && !':;,.'.includes(cur.last.charAt(cur.last.length - 1))) cur.parts[cur.parts.length - 1] += ';';
      cur.parts.push(body);
      cur.lines.push(i + 1);
      cur.last = body;
      cur.lastIndented = indented;
    } else {
      flush();
      block = { id: null, parts: [body], lines: [i + 1], last: body, lastIndented: indented };
    }
  }
  flush();
  return found;
}

function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  let cut = s.lastIndexOf(' ', max - 1);
  if (cut < max / 2) cut = max - 1;
  const code = s.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--; // never split a surrogate pair
  return `${s.slice(0, cut).trimEnd()}…`;
}

const lowerFirst = (s: string) => (/^[A-Z][a-z]/.test(s) ? s[0].toLowerCase() + s.slice(1) : s);
const upperFirst = (s: string) => s.charAt(0).toUpperCase() + s.slice(1);

function stripTrailing(s: string): string {
  let end = s.length;
  while (end > 0 && ' .;:!'.includes(s[end - 1])) end--;
  return s.slice(0, end);
}

function isPlural(subject: string): boolean {
  if (/\band\b/i.test(subject)) return true;
  const word = subject.slice(subject.lastIndexOf(' ') + 1).toLowerCase();
  if (word === 'they' || word === 'we') return true;
  return word.endsWith('s') && !/(?:ss|us|is)$/.test(word);
}

/**
 * Third-person present tense, so titles read "the system records" rather than "the system shall
 * record". Auxiliaries go before adverbs ("are never displayed", "does not automatically delete").
 */
function verbPhrase(adverbs: string, verb: string, rest: string, plural: boolean, negative: boolean): string {
  if (verb === 'be') return `${plural ? 'are' : 'is'}${negative ? ' not' : ''}${adverbs ? ` ${adverbs.trimEnd()}` : ''}${rest}`;
  if (negative) return `${plural ? 'do' : 'does'} not ${adverbs}${verb}${rest}`;
  return `${adverbs}${plural || !/^[a-z]{1,30}$/.test(verb) ? verb : thirdPerson(verb)}${rest}`;
}

function thirdPerson(verb: string): string {
  if (verb === 'have') return 'has';
  if (/(?:s|sh|ch|x|z|o)$/.test(verb)) return `${verb}es`;
  if (/[^aeiou]y$/.test(verb)) return `${verb.slice(0, -1)}ies`;
  return `${verb}s`;
}

interface Analysis { condition: string | null; actor: string; predicate: string; negative: boolean; clause: string }

function analyse(text: string): Analysis | null {
  const m = MODAL_RE.exec(text);
  if (!m) return null;
  const before = text.slice(0, m.index).trim();
  let subject = before.slice(before.lastIndexOf('. ') + 1).trim();
  // Only the obligation's own sentence; rationale sentences after it stay in `requirement`.
  const predicate = stripTrailing(splitSentences(text.slice(m.index + m[0].length).trim(), 1)[0]?.text ?? '');
  const comma = subject.lastIndexOf(',');
  const condition = CONDITION_RE.test(subject) && comma > 0 ? subject.slice(0, comma) : null;
  if (condition) subject = subject.slice(comma + 1).trim();
  const actor = lowerFirst(subject || 'the system');
  const negative = m[2] !== undefined;

  let pos = 0; // skip "also", "automatically", ... to reach the verb
  for (let k = 0; k < 3; k++) {
    const sp = predicate.indexOf(' ', pos);
    if (sp < 0 || !ADVERBS.has(predicate.slice(pos, sp).toLowerCase())) break;
    pos = sp + 1;
  }
  const sp = predicate.indexOf(' ', pos);
  const verb = predicate.slice(pos, sp < 0 ? predicate.length : sp);
  const rest = predicate.slice(pos + verb.length);
  const main = `${actor} ${verbPhrase(predicate.slice(0, pos), verb, rest, isPlural(actor), negative)}`.trim();
  return { condition, actor, predicate, negative, clause: condition ? `${lowerFirst(condition)}, ${main}` : main };
}

function testCaseFor(req: Requirement): TestCase {
  const a = analyse(req.text);
  const setup = a?.condition
    ? `Prepare a qualified test environment and establish the condition under test: ${clip(lowerFirst(a.condition), 300)}.`
    : `Prepare a qualified test environment with the configuration, test data and user accounts needed to exercise ${req.id}, and record their versions.`;
  let action: string;
  if (!a) action = `Perform the operation described in ${req.id}: ${clip(stripTrailing(req.text), 300)}.`;
  else if (a.negative) action = `Attempt to make ${clip(`${a.actor} ${a.predicate}`, 300)}, which ${req.id} prohibits.`;
  else action = `Perform the operation that requires ${clip(`${a.actor} to ${a.predicate}`, 300)}.`;
  return {
    id: `TC-${req.id}`,
    requirementId: req.id,
    requirement: req.text,
    title: a ? `Verify that ${clip(a.clause, 160)}` : `Verify ${req.id}: ${clip(stripTrailing(req.text), 160)}`,
    steps: [
      setup,
      action,
      'Record objective evidence of the outcome (screenshots, audit-trail entries, reports or logs), signed and dated by the tester.',
      'Compare the evidence with the expected result, record the test as passed or failed and raise a deviation for any discrepancy.',
    ],
    expectedResult: a
      ? `${upperFirst(clip(a.clause, 1000))}.`
      : `The behaviour described in ${req.id} is observed: ${clip(stripTrailing(req.text), 1000)}.`,
  };
}

export function generateTestCases(document: string): UrsResult {
  const requirements = extractRequirements(document);
  if (requirements.length === 0) {
    throw new UrsProcessingError(
      'The URS document contains no requirements. Put each requirement on its own line, starting with an identifier ' +
        'such as URS-001 or REQ-7 (letters, a dash, then digits or dots), or write it as a sentence using "shall" or "must".',
    );
  }
  return { requirementCount: requirements.length, testCases: requirements.map(testCaseFor) };
}
