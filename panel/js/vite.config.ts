import { defineConfig } from "@voxel51/fiftyone-js-plugin-build";
import { dirname } from "path";
import { fileURLToPath } from "url";

// @fiftyone/* imports are externalised to the App's window globals; the
// build only insists that FIFTYONE_DIR is set (no FiftyOne sources needed).
process.env.FIFTYONE_DIR ??= "/nonexistent-fiftyone";

const dir = dirname(fileURLToPath(import.meta.url));

export default defineConfig(dir, {
  buildConfigOverride: { emptyOutDir: true },
  vite: { logLevel: "warn" },
});
