// Validates GraphQL exchanges with the sandbox against GitHub's public schema
// (npm @octokit/graphql-schema), using the reference implementation (npm graphql):
// - every query must validate against the schema (so backtrack asks only for what GitHub has);
// - every answer's `data` must fit the query's types: each selected field present, non-null
//   fields not null, enums among the schema's values, scalars of the right JSON type,
//   `__typename` a possible type of the field, nothing selected left out and nothing extra;
// - every error must have a `message` (and `locations`/`path` where GitHub gives them).
//
// Usage: node graphql_schema.mjs NODE_MODULES EXCHANGES.json
// EXCHANGES.json: [{"name", "query", "variables", "response", "expect_valid"}]. Prints one
// line per problem and exits 1 if there is any.

import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const [modules, file] = process.argv.slice(2);
const require = createRequire(path.join(modules, "noop.js"));
const g = require("graphql");
const sdl = readFileSync(path.join(modules, "@octokit/graphql-schema/schema.graphql"), "utf8");
const schema = g.buildSchema(sdl, { assumeValidSDL: true });
const exchanges = JSON.parse(readFileSync(file, "utf8"));

const problems = [];
const report = (name, msg) => problems.push(`${name}: ${msg}`);

function checkLeaf(name, where, type, value) {
  if (g.isEnumType(type)) {
    if (!type.getValues().some((v) => v.name === value)) report(name, `${where}: ${JSON.stringify(value)} is not a ${type.name}`);
    return;
  }
  const want = {
    Int: "number", Float: "number", Boolean: "boolean", String: "string", ID: "string",
    DateTime: "string", URI: "string", HTML: "string", GitObjectID: "string", BigInt: "string",
  }[type.name];
  if (want && typeof value !== want) report(name, `${where}: ${JSON.stringify(value)} is not a ${type.name}`);
  if (type.name === "Int" && !Number.isInteger(value)) report(name, `${where}: ${value} is not an Int`);
  if (type.name === "DateTime" && Number.isNaN(Date.parse(value))) report(name, `${where}: ${value} is not a DateTime`);
}

// Collects the fields a selection set selects on an object of concrete type `concrete`.
function collect(selectionSet, parentType, concrete, fragments, out) {
  for (const sel of selectionSet.selections) {
    if (sel.kind === g.Kind.FIELD) {
      const key = sel.alias ? sel.alias.value : sel.name.value;
      (out[key] ||= []).push(sel);
    } else {
      const frag = sel.kind === g.Kind.INLINE_FRAGMENT ? sel : fragments[sel.name.value];
      const cond = frag.typeCondition ? schema.getType(frag.typeCondition.name.value) : parentType;
      const applies = cond === concrete || (g.isAbstractType(cond) && schema.isSubType(cond, concrete));
      if (applies) collect(frag.selectionSet, cond, concrete, fragments, out);
    }
  }
}

function checkValue(name, where, type, value, fieldNodes, fragments) {
  if (g.isNonNullType(type)) {
    if (value === null || value === undefined) { report(name, `${where}: null for non-null ${type}`); return; }
    type = type.ofType;
  }
  if (value === null) return;
  if (value === undefined) { report(name, `${where}: missing`); return; }
  if (g.isListType(type)) {
    if (!Array.isArray(value)) { report(name, `${where}: not a list`); return; }
    value.forEach((v, i) => checkValue(name, `${where}[${i}]`, type.ofType, v, fieldNodes, fragments));
    return;
  }
  if (g.isLeafType(type)) { checkLeaf(name, where, type, value); return; }
  if (typeof value !== "object" || Array.isArray(value)) { report(name, `${where}: not an object`); return; }
  let concrete = type;
  if (g.isAbstractType(type)) {
    concrete = schema.getType(value.__typename);
    if (!concrete || !schema.isSubType(type, concrete)) {
      report(name, `${where}: __typename ${value.__typename} is not a possible ${type.name} (select __typename on abstract types)`);
      return;
    }
  }
  const selected = {};
  for (const node of fieldNodes) if (node.selectionSet) collect(node.selectionSet, type, concrete, fragments, selected);
  for (const key of Object.keys(value)) if (!(key in selected)) report(name, `${where}.${key}: not selected`);
  for (const [key, nodes] of Object.entries(selected)) {
    const fieldName = nodes[0].name.value;
    if (fieldName === "__typename") {
      if (value[key] !== concrete.name) report(name, `${where}.${key}: ${value[key]} but the object is a ${concrete.name}`);
      continue;
    }
    const def = concrete.getFields()[fieldName];
    if (!def) { report(name, `${where}.${key}: ${concrete.name} has no field ${fieldName}`); continue; }
    if (!(key in value)) { report(name, `${where}.${key}: selected but missing`); continue; }
    checkValue(name, `${where}.${key}`, def.type, value[key], nodes, fragments);
  }
}

for (const ex of exchanges) {
  const { name, query, response } = ex;
  let doc;
  try { doc = g.parse(query); } catch (e) {
    if (ex.expect_valid) report(name, `does not parse: ${e.message}`);
    continue;
  }
  const errors = g.validate(schema, doc);
  if (ex.expect_valid && errors.length) errors.forEach((e) => report(name, `invalid against the schema: ${e.message}`));
  if (!ex.expect_valid && !errors.length && !response.errors) report(name, "expected an invalid query or an error answer");
  for (const e of response.errors || []) {
    if (typeof e.message !== "string") report(name, `error without a message: ${JSON.stringify(e)}`);
    if (e.locations && !e.locations.every((l) => Number.isInteger(l.line) && Number.isInteger(l.column))) report(name, `bad locations: ${JSON.stringify(e)}`);
    if (e.path && !Array.isArray(e.path)) report(name, `bad path: ${JSON.stringify(e)}`);
  }
  if (errors.length || !("data" in response) || response.data === null) continue;
  const fragments = {};
  let op;
  for (const d of doc.definitions) {
    if (d.kind === g.Kind.FRAGMENT_DEFINITION) fragments[d.name.value] = d;
    else if (d.kind === g.Kind.OPERATION_DEFINITION) op = d;
  }
  checkValue(name, "data", new g.GraphQLNonNull(schema.getQueryType()), response.data, [op], fragments);
}

for (const p of problems) console.log(p);
console.log(`${exchanges.length} exchanges checked against @octokit/graphql-schema ${JSON.parse(readFileSync(path.join(modules, "@octokit/graphql-schema/package.json"), "utf8")).version}: ${problems.length} problems`);
process.exit(problems.length ? 1 : 0);
