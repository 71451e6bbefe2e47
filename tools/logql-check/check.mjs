// Parses LogQL queries with Grafana's own grammar (@grafana/lezer-logql) and reports each.
// Input: JSON lines on stdin, each {"id": "...", "query": "..."} or a bare JSON string.
// Output: one JSON line per query, {"id", "ok", "error"}; exit 0 when all parse, 1 otherwise.
import { createInterface } from "node:readline";
import { parser } from "@grafana/lezer-logql";

// Strict mode makes the parser throw at the first token it cannot place, instead of
// recovering with error nodes the way an editor wants.
const strict = parser.configure({ strict: true });

function check(query) {
  try {
    strict.parse(query);
    return null;
  } catch (err) {
    const message = String(err && err.message ? err.message : err);
    // lezer reports "No parse at N"; show the text there so the failure can be read.
    const at = /at (\d+)/.exec(message);
    if (at) {
      const pos = Number(at[1]);
      return `${message} (near ${JSON.stringify(query.slice(pos, pos + 20))})`;
    }
    return message;
  }
}

let failed = 0;
let index = 0;
const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
for await (const line of lines) {
  if (line.trim() === "") continue;
  index += 1;
  let item;
  try {
    item = JSON.parse(line);
  } catch (err) {
    process.stderr.write(`line ${index}: not JSON: ${err.message}\n`);
    process.exit(2);
  }
  const id = typeof item === "string" ? String(index) : String(item.id ?? index);
  const query = typeof item === "string" ? item : item.query;
  if (typeof query !== "string") {
    process.stderr.write(`line ${index}: no "query" string\n`);
    process.exit(2);
  }
  const error = check(query);
  if (error !== null) failed += 1;
  process.stdout.write(JSON.stringify({ id, ok: error === null, error }) + "\n");
}
process.exit(failed === 0 ? 0 : 1);
