import { extractRequirements, generateTestCases, UrsProcessingError } from '../src/jobs/urs';

const ids = (doc: string) => extractRequirements(doc).map((r) => r.id);

describe('extractRequirements: identifiers', () => {
  it('recognises URS-, REQ-, FR- and dotted identifiers with their text and line', () => {
    const doc = ['Intro line.', 'URS-001 The system shall log in users.', 'URS-12.3: Reports shall be printable.', 'REQ-7 - Data must be backed up.', 'FR-002 Audit trail review report.'].join('\n');
    expect(extractRequirements(doc)).toEqual([
      { id: 'URS-001', text: 'The system shall log in users.', line: 2 },
      { id: 'URS-12.3', text: 'Reports shall be printable.', line: 3 },
      { id: 'REQ-7', text: 'Data must be backed up.', line: 4 },
      // An identifier alone makes a requirement, even without "shall".
      { id: 'FR-002', text: 'Audit trail review report.', line: 5 },
    ]);
  });

  it('accepts bracketed and bold identifiers', () => {
    expect(ids('[URS-010] The system shall A.\n**URS-011** The system shall B.\n(URS-012) The system shall C.')).toEqual(['URS-010', 'URS-011', 'URS-012']);
  });

  it('joins indented continuation lines and lines cut mid-sentence', () => {
    const doc = 'URS-001 The system shall record\n    the user identity\n  and the time.\nURS-002 Users must sign\nwith their password.\nAudit Trail';
    expect(extractRequirements(doc)).toEqual([
      { id: 'URS-001', text: 'The system shall record the user identity and the time.', line: 1 },
      { id: 'URS-002', text: 'Users must sign with their password.', line: 4 },
    ]);
  });

  it('folds indented sub-bullets into the identified requirement above them', () => {
    const doc = 'URS-020 The system shall export:\n  - PDF\n  - CSV\nThe backup must be encrypted.';
    expect(extractRequirements(doc).map((r) => r.text)).toEqual(['The system shall export: PDF; CSV', 'The backup must be encrypted.']);
  });

  it('does not take a technical term such as SHA-256 in prose for an identifier', () => {
    expect(ids('SHA-256 hashes must be used for checksums.')).toEqual(['REQ-AUTO-001']);
  });
});

describe('extractRequirements: shall/must statements', () => {
  it('numbers unidentified obligations in order and ignores other prose and headings', () => {
    const doc = '# The system must not be read as a heading\nThis document describes the LIMS.\nThe system shall lock idle sessions. It is nice.\nOperators MUST wear gloves, e.g. nitrile ones.\nMust the system support SSO?\nA must-have feature list follows.';
    expect(extractRequirements(doc)).toEqual([
      { id: 'REQ-AUTO-001', text: 'The system shall lock idle sessions.', line: 3 },
      { id: 'REQ-AUTO-002', text: 'Operators MUST wear gloves, e.g. nitrile ones.', line: 4 },
    ]);
  });

  it('reports the line a sentence starts on inside a wrapped paragraph', () => {
    const doc = 'Background text\nthat wraps. The system\nshall keep records for 10 years.';
    expect(extractRequirements(doc)).toEqual([{ id: 'REQ-AUTO-001', text: 'The system shall keep records for 10 years.', line: 2 }]);
  });

  it('keeps auto numbering independent of identified requirements around it', () => {
    expect(ids('The system shall A.\nURS-001 The system shall B.\nThe system must C.')).toEqual(['REQ-AUTO-001', 'URS-001', 'REQ-AUTO-002']);
  });
});

describe('extractRequirements: layout', () => {
  it('strips bullets and numbering', () => {
    const doc = '- URS-001 The system shall A.\n* URS-002 The system shall B.\n1. URS-003 The system shall C.\n2) The system must D.\n3.1 The system must E.\n(a) The system shall F.\n+ Users must G.';
    const reqs = extractRequirements(doc);
    expect(reqs.map((r) => r.id)).toEqual(['URS-001', 'URS-002', 'URS-003', 'REQ-AUTO-001', 'REQ-AUTO-002', 'REQ-AUTO-003', 'REQ-AUTO-004']);
    expect(reqs.map((r) => r.text[0])).toEqual(['T', 'T', 'T', 'T', 'T', 'T', 'U']);
  });

  it('gives the same result for CRLF, CR and LF line endings and ignores a BOM', () => {
    const lines = ['URS-001 The system shall record', '  the reason for change.', '', 'The system must time-stamp entries.'];
    const lf = extractRequirements(lines.join('\n'));
    expect(extractRequirements('\uFEFF' + lines.join('\r\n'))).toEqual(lf);
    expect(extractRequirements(lines.join('\r'))).toEqual(lf);
    expect(lf.every((r) => !/\r/.test(r.text))).toBe(true);
    expect(lf.map((r) => r.line)).toEqual([1, 4]);
  });
});

describe('extractRequirements: duplicate identifiers', () => {
  it('keeps the first and suffixes later ones so none is lost', () => {
    const doc = 'URS-001 First.\nURS-002 Other.\nurs-001 Second.\nURS-001 Third.';
    expect(extractRequirements(doc)).toEqual([
      { id: 'URS-001', text: 'First.', line: 1 },
      { id: 'URS-002', text: 'Other.', line: 2 },
      { id: 'URS-001#2', text: 'Second.', line: 3 },
      { id: 'URS-001#3', text: 'Third.', line: 4 },
    ]);
  });
});

describe('generateTestCases', () => {
  const doc = [
    'URS-001 The system shall record every change to GxP data in an audit trail. Rationale: 21 CFR Part 11.',
    'URS-002 The system shall not allow users to delete audit-trail entries.',
    'URS-003 When a record is changed, the system shall prompt for a reason.',
    'FR-004 Electronic signatures must be linked to their records.',
    'FR-005 Audit trail review report.',
    'URS-001 A duplicate.',
    'Passwords shall never be displayed.',
  ].join('\n');

  it('writes one traceable test case per requirement', () => {
    const result = generateTestCases(doc);
    const reqs = extractRequirements(doc);
    expect(result.requirementCount).toBe(reqs.length);
    expect(result.testCases).toHaveLength(reqs.length);
    const byId = new Map(reqs.map((r) => [r.id, r]));
    for (const tc of result.testCases) {
      expect(byId.get(tc.requirementId)?.text).toBe(tc.requirement);
      expect(tc.id).toBe(`TC-${tc.requirementId}`);
      expect(tc.steps.length).toBeGreaterThanOrEqual(3);
      expect(tc.steps.some((s) => /objective evidence/i.test(s))).toBe(true);
      expect(tc.title.startsWith('Verify')).toBe(true);
      expect(tc.expectedResult.length).toBeGreaterThan(0);
    }
    expect(new Set(result.testCases.map((t) => t.id)).size).toBe(result.testCases.length);
  });

  it('turns "the system shall X" into "Verify that the system Xs" and restates it as the outcome', () => {
    const [tc] = generateTestCases(doc).testCases;
    expect(tc).toMatchObject({
      id: 'TC-URS-001',
      requirementId: 'URS-001',
      requirement: 'The system shall record every change to GxP data in an audit trail. Rationale: 21 CFR Part 11.',
      title: 'Verify that the system records every change to GxP data in an audit trail',
      expectedResult: 'The system records every change to GxP data in an audit trail.',
    });
    expect(tc.steps[1]).toBe('Perform the operation that requires the system to record every change to GxP data in an audit trail.');
  });

  it('words prohibitions, conditions, plurals and statements without a modal sensibly', () => {
    const tcs = new Map(generateTestCases(doc).testCases.map((t) => [t.id, t]));
    expect(tcs.get('TC-URS-002')?.title).toBe('Verify that the system does not allow users to delete audit-trail entries');
    expect(tcs.get('TC-URS-002')?.steps[1]).toMatch(/^Attempt to make the system allow users to delete audit-trail entries/);
    expect(tcs.get('TC-URS-003')?.title).toBe('Verify that when a record is changed, the system prompts for a reason');
    expect(tcs.get('TC-URS-003')?.steps[0]).toMatch(/condition under test: when a record is changed\.$/);
    expect(tcs.get('TC-FR-004')?.expectedResult).toBe('Electronic signatures are linked to their records.');
    expect(tcs.get('TC-FR-005')?.title).toBe('Verify FR-005: Audit trail review report');
    expect(tcs.get('TC-URS-001#2')?.requirementId).toBe('URS-001#2');
    expect(tcs.get('TC-REQ-AUTO-001')?.title).toBe('Verify that passwords are never displayed');
  });

  it('is deterministic', () => {
    expect(JSON.stringify(generateTestCases(doc))).toBe(JSON.stringify(generateTestCases(doc)));
  });

  it('keeps titles short for very long requirements', () => {
    const tc = generateTestCases(`URS-1 The system shall ${'retain data '.repeat(500)}.`).testCases[0];
    expect(tc.title.length).toBeLessThanOrEqual(200);
    expect(tc.title.endsWith('…')).toBe(true);
    expect(tc.requirement.length).toBeGreaterThan(5000);
  });
});

describe('documents without requirements', () => {
  it.each([['empty', ''], ['whitespace', ' \r\n\t\n'], ['prose only', '# Scope\nThis document describes the LIMS.\nShould we add SSO?']])(
    'rejects a %s document with a message saying what it must contain',
    (_name, document) => {
      expect(extractRequirements(document)).toEqual([]);
      let caught: unknown;
      try { generateTestCases(document); } catch (err) { caught = err; }
      expect(caught).toBeInstanceOf(UrsProcessingError);
      expect(caught).toBeInstanceOf(Error);
      expect((caught as Error).message).toMatch(/no requirements/);
      expect((caught as Error).message).toMatch(/URS-001/);
      expect((caught as Error).message).toMatch(/"shall" or "must"/);
    },
  );
});

describe('1 MiB documents', () => {
  const MiB = 1024 * 1024;

  it('processes a 1 MiB specification and finds every requirement', () => {
    const lines: string[] = [];
    let size = 0;
    for (let i = 1; size < MiB; i++) {
      const line = i % 2
        ? `- URS-${i}.1: The system shall keep record ${i} for the retention period.`
        : `The operator must review batch ${i} before release.`;
      lines.push(line);
      size += line.length + 2;
    }
    const result = generateTestCases(lines.join('\r\n'));
    expect(result.requirementCount).toBe(lines.length);
    expect(result.testCases[0].requirementId).toBe('URS-1.1');
    expect(result.testCases[1].requirementId).toBe('REQ-AUTO-001');
    expect(result.testCases[lines.length - 1].requirement).toBe(lines[lines.length - 1].replace(/^- URS-\d+\.1: /, ''));
  });

  // Inputs that make backtracking patterns explode; each must still complete within the jest timeout.
  it.each([
    ['a line of spaces', `URS-1 The system shall${' '.repeat(MiB)}x`, 1],
    ['a line of sentence ends', `The system shall ${'. '.repeat(MiB / 2)}x`, 1],
    ['an endless identifier', `URS-1.${'1.'.repeat(MiB / 2)}`, 1],
    ['endless numbering', `${'1.'.repeat(MiB / 2)} text`, 0],
    ['one unbroken word', `URS-1 The system shall ${'z'.repeat(MiB)}`, 1],
    ['a paragraph of obligations', 'The system shall\n'.repeat(MiB / 17), 1],
  ])('handles %s', (_name, document, expected) => {
    expect(extractRequirements(document)).toHaveLength(expected);
  });
});
