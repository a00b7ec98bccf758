/** Where priority comes from: an explicit line wins, else keywords in the summary, else medium. */
import { decidePriority, decideScriptPriority, DEFAULT_PRIORITY_RULES } from '../../src/experiments/priority.js';
import { pythonDocstring, leadingCommentBlock, summaryOf } from '../../src/experiments/docstring.js';

describe('keyword table (summary scope)', () => {
  test.each([
    ['Critical data gap fix', 'critical', 'critical'],
    ['Production signal audit', 'critical', 'production'],
    ['Deployment readiness check', 'critical', 'deploy'],
    ['Ready to deploy', 'critical', 'deploy'],
    ['Adaptive stop-loss', 'high', 'adaptive'],
    ['Adaptively sized positions', 'high', 'adaptive'],
    ['Trinity rebalance', 'high', 'trinity'],
    ['Risk management: drawdown caps', 'high', 'risk management'],
    ['Risk   management across lines', 'high', 'risk management'],
    ['Momentum lookback sweep', 'medium', undefined],
    ['Hypercritical review', 'medium', undefined],
    ['Redeploy nothing', 'medium', undefined],
  ])('%s → %s', (summary, priority, keyword) => {
    const decision = decidePriority(summary);
    expect(decision.priority).toBe(priority);
    if (keyword) expect(decision.reason).toContain(`keyword "${keyword}"`);
    else expect(decision.reason).toContain('default');
  });

  test('the highest class found wins', () => {
    expect(decidePriority('Adaptive production stops').priority).toBe('critical');
  });

  test('keywords after the first blank line do not count: "Deploy if validated" boilerplate stays medium', () => {
    expect(decidePriority('VIX entry filter.\n\nDeploy if validated.').priority).toBe('medium');
  });

  test('with scope "docstring" the whole text counts', () => {
    const rules = { ...DEFAULT_PRIORITY_RULES, scope: 'docstring' as const };
    expect(decidePriority('VIX entry filter.\n\nDeploy if validated.', rules).priority).toBe('critical');
  });

  test('keyword lists come from the rules', () => {
    const rules = { keywords: { low: ['someday'] }, scope: 'summary' as const };
    expect(decidePriority('Someday maybe', rules)).toMatchObject({ priority: 'low' });
    expect(decidePriority('Production audit', rules).priority).toBe('medium');
  });

  test('the reason names the words that matched', () => {
    expect(decidePriority('Adaptive stops, adaptively sized').reason).toBe(
      'keyword "adaptive" in summary matched "Adaptive", "adaptively"',
    );
  });
});

describe('explicit Priority line', () => {
  test('wins over keywords, anywhere in the docstring, any case', () => {
    expect(decidePriority('Production audit.\n\nMore text.\nPRIORITY: Low')).toEqual({
      priority: 'low',
      reason: 'explicit line "Priority: low"',
    });
  });

  test('low is reached only explicitly', () => {
    expect(decidePriority('Priority: low').priority).toBe('low');
  });

  test('an unknown level is an error that quotes the line', () => {
    expect(() => decidePriority('Title\nPriority: urgent')).toThrow(/malformed line "Priority: urgent"/);
  });
});

describe('docstrings and comment blocks', () => {
  const PYTHON_SCRIPT =
    '#!/usr/bin/env python3\n# -*- coding: utf-8 -*-\n\n"""Adaptive stops.\n\nDeploy if validated.\n"""\nimport os\n';
  const SHELL_SCRIPT =
    '#!/bin/sh\n# Adaptive regime classifier\n#\n# Priority: medium\nset -e\n# Production (not in the block)\n';

  test('a Python module docstring after a shebang and comments', () => {
    expect(pythonDocstring(PYTHON_SCRIPT)).toBe('Adaptive stops.\n\nDeploy if validated.\n');
    expect(decideScriptPriority(PYTHON_SCRIPT, true).priority).toBe('high');
  });

  test('single-quoted and raw docstrings', () => {
    expect(pythonDocstring("r'''Trinity run'''\n")).toBe('Trinity run');
    expect(pythonDocstring('"Production one-liner"\n')).toBe('Production one-liner');
  });

  test('a Python file without a docstring falls back to its leading comments', () => {
    expect(decideScriptPriority('# Production audit\nimport os\n', true).priority).toBe('critical');
  });

  test('the leading comment block of a shell script, after its shebang', () => {
    expect(leadingCommentBlock(SHELL_SCRIPT)).toBe('Adaptive regime classifier\n\nPriority: medium');
    expect(decideScriptPriority(SHELL_SCRIPT, false).priority).toBe('medium');
  });

  test('the summary ends at the first blank line', () => {
    expect(summaryOf('\n  Title line\ncontinued\n\nBody')).toBe('Title line\ncontinued');
  });
});
