// `npx error-tracker scrub [file.json]`: a check a compliance reviewer can run. Reads an event
// (or any JSON) from a file or stdin, runs the scrubbing policy in force on it (the built-in
// rules, plus what the environment sets, as `init` reads it: ERROR_TRACKER_USER_ID_SALT; plus
// the app's own `scrub` options, which live in code, from `--options`), and prints what would
// be sent and what was removed where, by which rule (as Sentry's `_meta` records it).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

export const USAGE = `usage: error-tracker scrub [file.json] [--options options.json] [--json]

  Runs the scrubbing policy in force on an event or any JSON (from file.json, or stdin when
  no file or "-" is given) and prints what would be sent, then each removal: path ← rule.
  The policy is the built-in one plus what the environment sets, as init reads it
  (ERROR_TRACKER_USER_ID_SALT); --options names a JSON file holding the object your app
  gives init, for the scrub options set in code (scrub.keys, scrub.patterns). --json prints
  one JSON object instead: { "sent": …, "_meta": { path: { "rem": [[rule, "s"|"x"]], "len" } } }.
  Exits 0 when it printed, 1 when the input or options could not be read, 2 on bad usage.`;

/** Runs the command with `args` (after `scrub`); resolves with the exit code. */
export async function scrub(args) {
  let file;
  let optionsFile;
  let asJson = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === '--help' || arg === '-h') {
      console.log(USAGE);
      return 0;
    } else if (arg === '--json') {
      asJson = true;
    } else if (arg === '--options') {
      optionsFile = args[++i];
      if (optionsFile === undefined) return usage('--options needs a file');
    } else if (arg.startsWith('-') && arg !== '-') {
      return usage(`unknown flag \`${arg}\``);
    } else if (file === undefined) {
      file = arg;
    } else {
      return usage(`one file at a time (got \`${file}\` and \`${arg}\`)`);
    }
  }
  if ((file === undefined || file === '-') && process.stdin.isTTY) {
    return usage('give a file, or pipe JSON to stdin');
  }

  const source = file === undefined || file === '-' ? 'stdin' : file;
  let text;
  try {
    text = readFileSync(source === 'stdin' ? 0 : file, 'utf8');
  } catch (e) {
    return fail(`cannot read ${source}: ${e.message}`);
  }
  let options = {};
  if (optionsFile !== undefined) {
    try {
      options = JSON.parse(readFileSync(optionsFile, 'utf8'));
    } catch (e) {
      return fail(`--options ${optionsFile}: ${e instanceof SyntaxError ? `not valid JSON: ${e.message}` : e.message}`);
    }
  }

  const require = createRequire(import.meta.url);
  require('../index.js'); // its loader explains a missing binary
  const { scrubPreview } = require('../binding.js');
  let result;
  try {
    result = JSON.parse(scrubPreview(text, options));
  } catch (e) {
    return fail(`${e.message.replace(/^error-tracker: /, '').replace(/^`json`/, source)}`);
  }

  if (asJson) {
    console.log(JSON.stringify(result, null, 2));
    return 0;
  }
  console.log(JSON.stringify(result.sent, null, 2));
  const removed = Object.entries(result._meta);
  console.log(`\n${removed.length} removal${removed.length === 1 ? '' : 's'} (path ← rule):`);
  for (const [path, { rem, len }] of removed) {
    const rules = rem.map(([rule, kind]) => (kind === 'x' ? `${rule} (field removed)` : rule)).join('; ');
    console.log(`  ${path || '(the document)'} ← ${rules}${len === undefined ? '' : ` [was ${len} characters]`}`);
  }
  return 0;
}

function usage(problem) {
  console.error(`error-tracker scrub: ${problem}\n\n${USAGE}`);
  return 2;
}

function fail(problem) {
  console.error(`error-tracker scrub: ${problem}`);
  return 1;
}
