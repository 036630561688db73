// Validates a Teams manifest with Microsoft's own validator (@microsoft/app-manifest), offline,
// against the schema file of its version; prints the list of errors as JSON.
// Usage: node validate_manifest.js manifest.json
const fs = require("fs");
const path = require("path");
const { ManifestUtil } = require("@microsoft/app-manifest");

async function main() {
  const manifest = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
  const schemaFile = path.join(
    path.dirname(require.resolve("@microsoft/app-manifest/package.json")),
    "build", "json-schemas", "teams", `v${manifest.manifestVersion}`, "MicrosoftTeams.schema.json",
  );
  const schema = JSON.parse(fs.readFileSync(schemaFile, "utf8"));
  const errors = await ManifestUtil.validateManifestAgainstSchema(manifest, schema);
  process.stdout.write(JSON.stringify(errors));
}

main().catch((error) => {
  process.stderr.write(String(error.stack || error));
  process.exit(1);
});
