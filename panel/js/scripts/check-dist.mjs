// Fails when the freshly built bundle differs from the committed one.
import { execFileSync } from "node:child_process";

const changed = execFileSync("git", ["status", "--porcelain", "--", "dist"], {
  encoding: "utf8",
}).trim();

if (changed) {
  console.error(
    "panel/js/dist is stale: run `cd panel/js && npm ci && npm run build` and commit dist/index.umd.js"
  );
  process.exit(1);
}
