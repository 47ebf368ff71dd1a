// Check Strimzi custom resources against the Strimzi CRD schemas, offline.
//
//   node deploy/tools/check-custom-resources.mjs < resources.json
//
// Reads a JSON array of resources. Each one whose apiVersion is a Strimzi group is checked twice:
// against the CRD's OpenAPI schema (types, enums, required fields, patterns), and, since those
// schemas allow unknown fields, against the CRD's TypeScript types with the compiler's excess-property
// check, which rejects a misspelt or misplaced field. Both come from
// @kubernetes-models/strimzi-kafka-operator (generated from Strimzi's released CRDs).
// Prints {"checked": [...], "skipped": [...], "errors": [...]} and exits 1 when there is an error.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const PACKAGE = "@kubernetes-models/strimzi-kafka-operator";
const GROUPS = new Set(["kafka.strimzi.io", "core.strimzi.io"]);
const here = dirname(fileURLToPath(import.meta.url));

function label(resource) {
  return `${resource.kind}/${resource.metadata?.name ?? "?"}`;
}

async function checkSchema(resource, module) {
  const models = await import(module);
  const Model = models[resource.kind];
  if (Model === undefined) {
    return [`no model ${resource.kind} in ${module}`];
  }
  try {
    new Model(resource).validate();
    return [];
  } catch (error) {
    const details = (error.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}`);
    return details.length > 0 ? details : [String(error.message ?? error)];
  }
}

function checkTypes(entries) {
  // One virtual source file: each resource assigned, as a literal, to its CRD's interface.
  const lines = [];
  entries.forEach(({ resource, module }, index) => {
    lines.push(`import type { I${resource.kind} as T${index} } from "${module}/${resource.kind}";`);
  });
  entries.forEach(({ resource }, index) => {
    lines.push(`export const r${index}: T${index} = ${JSON.stringify(resource)};`);
  });
  const fileName = join(here, "__resources__.ts");
  const source = lines.join("\n");
  const options = {
    noEmit: true,
    strict: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, version, ...rest) =>
    name === fileName ? ts.createSourceFile(name, source, version) : getSourceFile(name, version, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || fileExists(name);
  const program = ts.createProgram([fileName], options, host);
  const errors = [];
  for (const diagnostic of ts.getPreEmitDiagnostics(program)) {
    const text = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
    let where = "(setup)";
    if (diagnostic.file?.fileName === fileName && diagnostic.start !== undefined) {
      const { line } = diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start);
      const index = line - entries.length;
      where = index >= 0 && index < entries.length ? label(entries[index].resource) : `line ${line + 1}`;
    }
    errors.push({ resource: where, check: "types", message: text.split("\n")[0] });
  }
  return errors;
}

const resources = JSON.parse(readFileSync(0, "utf8"));
const report = { checked: [], skipped: [], errors: [] };
const typed = [];
for (const resource of resources) {
  const [group, version] = String(resource.apiVersion ?? "").split("/");
  if (!GROUPS.has(group)) {
    report.skipped.push(label(resource));
    continue;
  }
  const module = `${PACKAGE}/${group}/${version}`;
  let problems;
  try {
    problems = await checkSchema(resource, module);
  } catch (error) {
    problems = [`no schema for ${resource.apiVersion} ${resource.kind}: ${error.message}`];
  }
  for (const message of problems) {
    report.errors.push({ resource: label(resource), check: "schema", message });
  }
  if (problems.length === 0) {
    typed.push({ resource, module });
  }
  report.checked.push(label(resource));
}
if (typed.length > 0) {
  report.errors.push(...checkTypes(typed));
}
process.stdout.write(JSON.stringify(report, null, 2) + "\n");
process.exitCode = report.errors.length > 0 ? 1 : 0;
