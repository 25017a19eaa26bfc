// Checks an AsyncAPI document with the official parser (@asyncapi/parser).
//
//	node validate.mjs FILE
//
// Prints every diagnostic, one a line, as "severity path: message (code)".
// Exits 1 when any diagnostic is an error (severity 0) or the parser returned
// no document, 2 on a usage or read error, 0 otherwise: warnings and hints
// are shown but do not fail the check.
import { readFile } from 'node:fs/promises';
import { Parser } from '@asyncapi/parser';

const severities = ['error', 'warning', 'info', 'hint'];

async function main(argv) {
  if (argv.length !== 1) {
    console.error('usage: node validate.mjs FILE');
    return 2;
  }
  let text;
  try {
    text = await readFile(argv[0], 'utf8');
  } catch (err) {
    console.error(`validate: ${err.message}`);
    return 2;
  }
  const { document, diagnostics } = await new Parser().parse(text);
  let errors = 0;
  for (const d of diagnostics) {
    if (d.severity === 0) errors++;
    const where = d.path && d.path.length > 0 ? d.path.join('.') : '(document)';
    console.log(`${severities[d.severity] ?? d.severity} ${where}: ${d.message} (${d.code})`);
  }
  if (errors > 0 || document === undefined) {
    console.log(`${argv[0]}: invalid, ${errors} error(s), ${diagnostics.length} diagnostic(s)`);
    return 1;
  }
  console.log(`${argv[0]}: valid AsyncAPI ${document.version()}, ${diagnostics.length} diagnostic(s)`);
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
