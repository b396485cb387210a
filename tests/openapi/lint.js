// Checks docs/openapi.json: a valid OpenAPI 3.1 document for
// @apidevtools/swagger-parser (its schema and references), and the same
// endpoints as the routing table (src/api/routes.c), no more, no fewer.
//   node lint.js DOC ROUTES.C
const fs = require("fs");
const SwaggerParser = require("@apidevtools/swagger-parser");
const [doc, routesC] = process.argv.slice(2);
let failed = 0;
const say = (ok, what) => {
    console.log(`${ok ? "ok" : "not ok"} - ${what}`);
    if (!ok) failed++;
};
(async () => {
    let api;
    try {
        api = await SwaggerParser.validate(doc);
        say(true, `${doc}: a valid OpenAPI ${api.openapi} document, ${Object.keys(api.paths).length} paths`);
    } catch (e) {
        say(false, `${doc}: ${e.message}`);
        process.exit(1);
    }
    // {"GET", "/sites/{site}", ... rows; parameter names differ, positions count
    const norm = (m, p) => `${m.toUpperCase()} ${p.replace(/\{[^}]+\}/g, "{}")}`;
    const table = new Set();
    for (const m of fs.readFileSync(routesC, "utf8").matchAll(/\{"([A-Z]+)", "(\/[^"]*)", api_/g))
        table.add(norm(m[1], m[2]));
    const documented = new Set();
    for (const [p, item] of Object.entries(api.paths))
        for (const m of Object.keys(item)) documented.add(norm(m, p));
    const missing = [...table].filter((r) => !documented.has(r));
    const extra = [...documented].filter((r) => !table.has(r));
    say(table.size > 40 && missing.length === 0, `every route of ${routesC} (${table.size}) is documented${missing.length ? ": missing " + missing.join(", ") : ""}`);
    say(extra.length === 0, `the document has no route the server lacks${extra.length ? ": " + extra.join(", ") : ""}`);
    process.exit(failed ? 1 : 0);
})();
