/**
 * How a schema check report is shown: text for people (every issue with its kind, code,
 * coordinate, position and message, then a summary line), one JSON document for machines,
 * and GitHub Actions workflow commands (`::error file=…,line=…::…`) that annotate the
 * changed lines of a pull request.
 */
import type { CheckReport, Issue } from './check.ts';

export function formatText(report: CheckReport): string {
  const lines: string[] = [];
  const against =
    report.base.status === 'found'
      ? `breaking changes against ${report.base.ref} (${report.base.commit.slice(0, 10)})`
      : 'breaking changes not checked';
  lines.push(`schema:check: composed ${report.subgraphs.join(', ')}; ${against}`);
  for (const issue of report.issues) {
    lines.push('');
    const subject = issue.coordinate ? ` ${issue.coordinate}` : '';
    lines.push(`${issue.severity}: [${issue.kind} ${issue.code}]${subject}`);
    const at = position(issue);
    if (at) lines.push(`  at ${at}`);
    lines.push(`  ${issue.message}`);
    for (const detail of issue.details ?? []) lines.push(`  ${detail}`);
  }
  lines.push('');
  const { error, warning, notice } = report.counts;
  lines.push(
    `schema:check ${report.ok ? 'passed' : 'failed'}: ${plural(error, 'error')}, ${plural(warning, 'warning')}, ${plural(notice, 'notice')}`,
  );
  return `${lines.join('\n')}\n`;
}

export function formatJson(report: CheckReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

/** One workflow command per issue, for GitHub Actions (`GITHUB_ACTIONS=true`). */
export function formatGithubAnnotations(report: CheckReport): string {
  return report.issues
    .map((issue) => {
      const properties = [
        issue.file && `file=${escapeProperty(issue.file)}`,
        issue.line && `line=${issue.line}`,
        issue.column && `col=${issue.column}`,
        `title=${escapeProperty(`schema:check ${issue.kind} ${issue.code}${issue.coordinate ? ` ${issue.coordinate}` : ''}`)}`,
      ].filter(Boolean);
      const body = [issue.message, ...(issue.details ?? [])].join('\n');
      return `::${issue.severity} ${properties.join(',')}::${escapeData(body)}\n`;
    })
    .join('');
}

function position(issue: Issue): string | undefined {
  if (!issue.file) return undefined;
  if (!issue.line) return issue.file;
  return `${issue.file}:${issue.line}${issue.column ? `:${issue.column}` : ''}`;
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? '' : 's'}`;
}

// https://github.com/actions/toolkit/blob/main/packages/core/src/command.ts
function escapeData(value: string): string {
  return value.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}

function escapeProperty(value: string): string {
  return escapeData(value).replace(/:/g, '%3A').replace(/,/g, '%2C');
}
