// Checks recorded exchanges (record.py's JSON lines) against docs/openapi.json:
// each request matches a path and method of the document (or was answered
// 404/405 as the contract says of unknown ones); its status is one the
// operation declares; its body has a declared media type and matches the
// schema; and a request that succeeded sent only declared query parameters,
// with their schemas, the required ones and the required headers, and a
// JSON body that matches the request schema.
//   node validate.js DOC RECORDS...
const fs = require("fs");
const SwaggerParser = require("@apidevtools/swagger-parser");
const Ajv2020 = require("ajv/dist/2020");
const addFormats = require("ajv-formats");

const [docPath, ...files] = process.argv.slice(2);
const ajv = new Ajv2020({ strict: false, allErrors: false });
addFormats(ajv);
const compiled = new Map();
function check(schema, value) {
    let v = compiled.get(schema);
    if (!v) {
        v = ajv.compile(schema);
        compiled.set(schema, v);
    }
    return v(value) ? null : ajv.errorsText(v.errors);
}

function bodyText(b) {
    return b.text !== undefined ? b.text : Buffer.from(b.base64, "base64").toString("latin1");
}

(async () => {
    const api = await SwaggerParser.dereference(docPath);
    // literal paths first: /webhooks/notify-secret before /webhooks/{webhookId}
    const routes = Object.entries(api.paths)
        .map(([p, item]) => ({
            p,
            item,
            params: (p.match(/\{/g) || []).length,
            re: new RegExp("^" + p.replace(/[.]/g, "\\.").replace(/\{[^}]+\}/g, "[^/]+") + "$"),
        }))
        .sort((a, b) => a.params - b.params);
    const errorSchema = api.components.schemas.Error;
    const failures = new Map(); // message -> count
    const seen = new Set();
    let n = 0,
        unanswered = 0;
    const fail = (ex, msg) => {
        const key = `${ex.method} ${ex.path} -> ${ex.status}: ${msg}`;
        failures.set(key, (failures.get(key) || 0) + 1);
    };
    for (const file of files) {
        for (const line of fs.readFileSync(file, "utf8").split("\n")) {
            if (!line) continue;
            const ex = JSON.parse(line);
            n++;
            if (ex.proxy_error) {
                // the server was stopped or killed under it (the crash tests): no answer to check
                unanswered++;
                continue;
            }
            const route = routes.find((r) => r.re.test(ex.path));
            const method = ex.method.toLowerCase();
            const o = route && route.item[method];
            const ctype = (ex.response_headers["content-type"] || "").split(";")[0].trim();
            const body = bodyText(ex.response_body);
            if (!o) {
                // the contract of what is not in it: 404 (no such path) or 405 (Allow)
                const want = route ? 405 : 404;
                if (ex.status !== want) fail(ex, `not in the document, and not answered ${want}`);
                else {
                    const e = check(errorSchema, JSON.parse(body));
                    if (e) fail(ex, `error body: ${e}`);
                }
                continue;
            }
            const opKey = `${method.toUpperCase()} ${route.p}`;
            seen.add(opKey);
            const resp = o.responses[String(ex.status)];
            if (!resp) {
                fail(ex, `status ${ex.status} is not declared for ${opKey}`);
                continue;
            }
            if (!resp.content) {
                if (body.length) fail(ex, `a body where ${opKey} ${ex.status} declares none`);
            } else if (!resp.content[ctype]) {
                fail(ex, `content type '${ctype}' is not declared for ${opKey} ${ex.status}`);
            } else if (ctype === "application/json") {
                let v;
                try {
                    v = JSON.parse(body);
                } catch (e) {
                    fail(ex, "the body is not JSON");
                    continue;
                }
                const e = check(resp.content[ctype].schema, v);
                if (e) fail(ex, `body: ${e}`);
            }
            if (ex.status >= 300) continue; // a refused request is allowed to be wrong
            // what succeeded must be what the document describes
            const declared = new Map();
            for (const p of o.parameters || []) declared.set(`${p.in}:${p.in === "header" ? p.name.toLowerCase() : p.name}`, p);
            const q = new URLSearchParams(ex.query);
            for (const [k, v] of q) {
                const p = declared.get(`query:${k}`);
                if (!p) fail(ex, `query parameter '${k}' is not declared for ${opKey}`);
                else {
                    const e = check(p.schema, v);
                    if (e) fail(ex, `query parameter '${k}': ${e}`);
                }
            }
            for (const p of declared.values()) {
                if (!p.required) continue;
                if (p.in === "query" && !q.has(p.name)) fail(ex, `required query parameter '${p.name}' missing`);
                if (p.in === "header" && ex.request_headers[p.name.toLowerCase()] === undefined)
                    fail(ex, `required header '${p.name}' missing`);
            }
            for (const p of declared.values()) {
                const h = p.in === "header" && ex.request_headers[p.name.toLowerCase()];
                if (h !== undefined && h !== false) {
                    const e = check(p.schema, h);
                    if (e) fail(ex, `header '${p.name}': ${e}`);
                }
            }
            const rb = o.requestBody;
            const reqType = (ex.request_headers["content-type"] || "").split(";")[0].trim();
            const reqBody = bodyText(ex.request_body);
            if (rb && rb.required && !reqBody.length && !rb.content["text/plain"])
                fail(ex, "the request body is required");
            if (rb && reqBody.length && reqType === "application/json" && rb.content["application/json"]) {
                const e = check(rb.content["application/json"].schema, JSON.parse(reqBody));
                if (e) fail(ex, `request body: ${e}`);
            }
        }
    }
    const ops = [];
    for (const [p, item] of Object.entries(api.paths))
        for (const m of Object.keys(item)) ops.push(`${m.toUpperCase()} ${p}`);
    const unseen = ops.filter((k) => !seen.has(k));
    console.log(`# ${n} exchanges (${unanswered} without an answer: the server was stopped), ${seen.size} of ${ops.length} operations exercised`);
    for (const k of unseen) console.log(`# not exercised: ${k}`);
    let bad = 0;
    for (const [k, c] of failures) {
        bad += c;
        if (bad <= 200) console.log(`# ${c}x ${k}`);
    }
    n -= unanswered;
    const ok = n > 0 && bad === 0;
    console.log(`${ok ? "ok" : "not ok"} - every recorded exchange matches ${docPath} (${n - bad} of ${n})`);
    process.exit(ok ? 0 : 1);
})().catch((e) => {
    console.log(`not ok - ${e.stack}`);
    process.exit(1);
});
