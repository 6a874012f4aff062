"""Our own insecure-code rules (experiments/bench/rules) with the real semgrep: each fires on the code its
description names and stays quiet on the safe counterpart. One semgrep run for every rule and snippet
(start-up, not scanning, is what costs).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from codesieve.testing.tools import semgrep_binary
from experiments.bench.icd_rules import EXTENSIONS, LANGUAGES, OWN_PREFIX, own_rules
from experiments.bench.semgrep_runner import run_semgrep

pytestmark = pytest.mark.integration

# rule id -> (language, insecure snippet, safe snippet); the insecure line is the snippet's last.
CASES = {
    "codesieve-c-sprintf": ("c", 'sprintf(buf, "%s", name);', 'snprintf(buf, sizeof buf, "%s", name);'),
    "codesieve-c-alloc-size-product": (
        "c",
        "p = malloc(sizeof(item_t) * count);",
        # pointer parameters of allocator prototypes and deallocators are not products
        "void *xrealloc(void *p, size_t n);\nstatic void obj_dealloc(obj_t *self);\np = malloc(sizeof(char *));",
    ),
    "codesieve-c-copy-into-stack-buffer": (
        "c",
        "char tmp[16];\nint n = 0;\nmemcpy(tmp, src, len);",
        "char *tmp = malloc(len);\nmemcpy(tmp, src, len);",
    ),
    "codesieve-c-strcpy-into-stack-buffer": (
        "c",
        "char name[32];\nstrcpy(name, argv[1]);",
        "char *name = strdup(argv[1]);\nstrcpy(other, name);",
    ),
    "codesieve-c-free-of-array": ("c", "char line[80];\nfree(line);", "char *line = malloc(80);\nfree(line);"),
    "codesieve-c-rand": ("c", "int r = rand() % 6;", "getrandom(&r, sizeof r, 0);"),
    "codesieve-c-snprintf-result-used": (
        "c",
        'n = snprintf(buf, sizeof buf, "%s", s);',
        'snprintf(buf, sizeof buf, "%s", s);',
    ),
    "codesieve-c-weak-hash": ("c", "MD5_Init(&ctx);", "SHA256_Init(&ctx);"),
    "codesieve-c-hardcoded-credential": ("c", 'password = "hunter2";', 'password = getenv("DB_PASSWORD");'),
    "codesieve-cpp-new-array-size-product": ("cpp", "auto *a = new int[rows * cols];", "auto *a = new int[rows];"),
    "codesieve-cpp-container-changed-while-iterated": (
        "cpp",
        "for (auto &x : items) {\n  items.push_back(x);\n}",
        "for (auto &x : items) {\n  out.push_back(x);\n}",
    ),
    "codesieve-cs-process-start": ("csharp", "Process.Start(command);", "var p = new Process();"),
    "codesieve-cs-weak-cipher": ("csharp", "var d = new DESCryptoServiceProvider();", "var a = Aes.Create();"),
    "codesieve-cs-cipher-mode": ("csharp", "aes.Mode = CipherMode.ECB;", "var g = new AesGcm(key);"),
    "codesieve-cs-weak-hash": ("csharp", "var h = MD5.Create();", "var h = SHA256.Create();"),
    "codesieve-cs-weak-random": ("csharp", "var r = new Random();", "var r = RandomNumberGenerator.GetInt32(6);"),
    "codesieve-cs-post-without-antiforgery": (
        "csharp",
        "[HttpPost]\npublic IActionResult Save(Model m) { }",
        "[HttpPost]\n[ValidateAntiForgeryToken]\npublic IActionResult Save(Model m) { }",
    ),
    "codesieve-cs-validate-input-off": ("csharp", "[ValidateInput(false)]", "[ValidateInput(true)]"),
    "codesieve-cs-deserialize": ("csharp", "var o = formatter.Deserialize(stream);", "var o = Parse(stream);"),
    "codesieve-cs-sql-command": (
        "csharp",
        'var c = new SqlCommand("SELECT * FROM t WHERE id = " + id, conn);',
        "var c = conn.CreateCommand();",
    ),
    "codesieve-cs-xml-external-entities": (
        "csharp",
        "var r = XmlReader.Create(input);",
        "var j = JsonDocument.Parse(s);",
    ),
    "codesieve-cs-xpath-non-literal": (
        "csharp",
        "var n = doc.SelectSingleNode(query);",
        'var n = doc.SelectSingleNode("/root/item");',
    ),
    "codesieve-cs-open-redirect": ("csharp", "return Redirect(returnUrl);", 'return Redirect("/home");'),
    "codesieve-java-weak-random": ("java", "int n = random.nextInt(10);", "SecureRandom.getInstanceStrong();"),
    "codesieve-java-outbound-address": (
        "java",
        "URL u = new URL(target);",
        'URL u = new URL("https://example.org/");',
    ),
    "codesieve-java-csrf-disabled": ("java", "http.csrf().disable();", "http.csrf();"),
    "codesieve-java-xpath-non-literal": ("java", "xpath.compile(expr);", 'xpath.compile("/a/b");'),
    "codesieve-java-send-error-concatenated": (
        "java",
        'resp.sendError(500, "failed: " + param);',
        'resp.sendError(500, "failed");',
    ),
    "codesieve-java-servlet-writer-non-literal": (
        "java",
        "resp.getWriter().write(param);",
        'resp.getWriter().write("ok");',
    ),
    "codesieve-java-xml-parse": ("java", "parser.parse(input);", "mapper.readTree(input);"),
    "codesieve-js-child-process": ("javascript", "child_process.exec(cmd);", "child_process.execFileSync;"),
    "codesieve-js-function-constructor": ("javascript", "const f = new Function('a', body);", "const f = (a) => a;"),
    "codesieve-js-eval-non-literal": ("javascript", "const v = eval(input);", "const v = JSON.parse(input);"),
    "codesieve-js-non-literal-require": ("javascript", "const m = require(name);", "const m = require('path');"),
    "codesieve-js-fs-non-literal-path": (
        "javascript",
        "fs.readFileSync(userPath);",
        "fs.readFileSync('config.json');",
    ),
    "codesieve-js-weak-random": ("javascript", "const id = Math.random();", "const id = crypto.randomUUID();"),
    "codesieve-js-dangerously-set-inner-html": (
        "javascript",
        "<div dangerouslySetInnerHTML={{ __html: html }} />",
        "<div>{html}</div>",
    ),
    "codesieve-js-new-buffer": ("javascript", "const b = new Buffer(size);", "const b = Buffer.alloc(size);"),
    "codesieve-js-non-literal-regexp": (
        "javascript",
        "const r = new RegExp(pattern);",
        "const r = new RegExp('^a+$');",
    ),
    "codesieve-js-timing-unsafe-compare": (
        "javascript",
        "if (token === expected) {}",
        "if (crypto.timingSafeEqual(a, b)) {}",
    ),
    "codesieve-js-post-message-any-origin": (
        "javascript",
        "win.postMessage(data, '*');",
        "win.postMessage(data, 'https://example.org');",
    ),
    "codesieve-js-alloc-unsafe": ("javascript", "const b = Buffer.allocUnsafe(n);", "const b = Buffer.alloc(n);"),
    "codesieve-py-weak-random": ("python", "token = random.randint(0, 10**6)", "token = secrets.token_hex(16)"),
    "codesieve-py-sql-built-query": (
        "python",
        "cur.execute(\"SELECT * FROM t WHERE name = '%s'\" % name)",
        'cur.execute("SELECT * FROM t WHERE name = ?", (name,))',
    ),
    "codesieve-py-unpickle": ("python", "obj = pickle.load(f)", "obj = json.load(f)"),
    "codesieve-py-exec": ("python", "exec(source)", "executor.submit(job)"),
    "codesieve-py-shell-command": (
        "python",
        'subprocess.run("ls " + path, shell=True)',
        'subprocess.run(["ls", path])',
    ),
    "codesieve-py-private-key": ("python", 'KEY = """-----BEGIN RSA PRIVATE KEY-----', 'KEY = os.environ["KEY"]'),
    "codesieve-php-private-key": ("php", "$k = '-----BEGIN PRIVATE KEY-----';", "$k = getenv('KEY');"),
    "codesieve-php-seeded-random": ("php", "mt_srand($seed);", "$n = random_int(1, 6);"),
}


def test_every_own_rule_has_a_case() -> None:
    ids = {r["id"] for language in LANGUAGES for r in own_rules(language)}
    assert ids == set(CASES)
    assert all(i.startswith(OWN_PREFIX) for i in ids)


@pytest.fixture(scope="module")
def hits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    """file name -> ids of our rules that fired on it (rules of the file's language only)."""
    tmp = tmp_path_factory.mktemp("own-rules")
    target = tmp / "samples"
    target.mkdir()
    rules: dict[str, dict[str, object]] = {}
    for n, (_, (language, bad, good)) in enumerate(sorted(CASES.items())):
        (target / f"bad_{n:02d}{EXTENSIONS[language]}").write_text(bad + "\n")
        (target / f"good_{n:02d}{EXTENSIONS[language]}").write_text(good + "\n")
        rules.update({r["id"]: r for r in own_rules(language)})
    config = tmp / "rules.json"
    config.write_text(json.dumps({"rules": list(rules.values())}))
    report = run_semgrep(semgrep_binary(), config, target, jobs=2)
    out: dict[str, set[str]] = {p.name: set() for p in target.iterdir()}
    for r in report["results"]:
        rule_id = str(r["check_id"]).rsplit(".", 1)[-1]
        name = Path(r["path"]).name
        language = next(lang for lang, ext in EXTENSIONS.items() if name.endswith(ext))
        if rule_id in {x["id"] for x in own_rules(language)}:
            out[name].add(rule_id)
    return out


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fires_on_insecure_code_only(rule_id: str, hits: dict[str, set[str]]) -> None:
    n = sorted(CASES).index(rule_id)
    language = CASES[rule_id][0]
    assert rule_id in hits[f"bad_{n:02d}{EXTENSIONS[language]}"]
    assert rule_id not in hits[f"good_{n:02d}{EXTENSIONS[language]}"]
