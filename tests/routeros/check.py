#!/usr/bin/env python3
"""Checks RouterOS scripts against a RouterOS command tree.

    check.py [--guarded] TREE.json.gz FILE...
                                       one line per problem; exit 1 if any
    check.py --source FILE             prints the decoded source= of the
                                       first `/system script add` in FILE

A tree is what `/console/inspect` prints on a real RouterOS, as JSON (see
trees/README.md). The checker reads each script as RouterOS would parse it
(strings with their escapes, [commands], {blocks}, (expressions), `;` and
newlines) and checks every command it can name statically:

- an absolute command (`/system script add ...`): every menu and the command
  exist; a relative one inside [...] (`[find where ...]`) in the menu of the
  command around it;
- a global command (`:local`, `:if`, `:do`, `:log info`, ...) exists;
- every `name=` argument, and every bare word that is no positional value,
  is an argument of that command; after `where` comes an expression, which is
  not checked.

Code carried in strings is checked too: the `source=` of a script, the
`on-event=` of a scheduler, and a literal compiled at run time
(`[:parse "..."]`). A `:parse` inside `:do { } on-error={ }` is how a script
reaches what a version may lack (`/system routerboard` on CHR, fetch's
`idle-timeout=` before 7.15): a compile error there is caught and the script
goes on without it. Problems in such guarded strings are printed (and count)
only with --guarded, which shows what each version will do without.
"""
import gzip
import json
import sys

PUNCT = "[]{}();"


def tokens(text):
    """(kind, value) pairs: str, word, punct, nl."""
    i, n = 0, len(text)
    line_start = True
    while i < n:
        c = text[i]
        if c == "\n":
            yield ("nl", "\n")
            line_start = True
            i += 1
            continue
        if c in " \t\r":
            i += 1
            continue
        if c == "#" and line_start:
            while i < n and text[i] != "\n":
                i += 1
            continue
        line_start = False
        if c == "\\" and i + 1 < n and text[i + 1] == "\n":  # line joining
            i += 2
            continue
        if c == '"':
            j = i + 1
            buf = []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    buf.append(text[j : j + 2])
                    j += 2
                else:
                    buf.append(text[j])
                    j += 1
            if j >= n:
                raise SyntaxError("unterminated string")
            yield ("str", "".join(buf))
            i = j + 1
            continue
        if c in PUNCT:
            yield ("punct", c)
            i += 1
            continue
        j = i
        while j < n and text[j] not in PUNCT + ' \t\r\n"':
            j += 1
        yield ("word", text[i:j])
        i = j


CLOSE = {"[": "]", "{": "}", "(": ")"}


def parse(toks, end=None):
    """A list of statements (lists of items) up to the closing `end`. An item
    is ("word"|"str", text) or ("group", opener, statements)."""
    stmts, cur = [], []
    for kind, v in toks:
        if kind == "nl" or (kind == "punct" and v == ";"):
            if cur:
                stmts.append(cur)
            cur = []
        elif kind == "punct" and v in CLOSE:
            cur.append(("group", v, parse(toks, CLOSE[v])))
        elif kind == "punct":
            if v != end:
                raise SyntaxError("unbalanced '%s'" % v)
            if cur:
                stmts.append(cur)
            return stmts
        else:
            cur.append((kind, v))
    if end:
        raise SyntaxError("missing '%s'" % end)
    if cur:
        stmts.append(cur)
    return stmts


MENU = ("dir", "path")  # inspect calls some menus dir, some path


def children(node):
    return {k: v for k, v in node.items() if k != "_type"}


POSITIONAL = {"numbers", "number", "value-name"}


NAMED = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\", "$": "$", "?": "?", "_": " "}


def decode(raw):
    """A string token's text (as tokens() keeps it, escapes and all) decoded."""
    out, i = [], 0
    while i < len(raw):
        c = raw[i]
        if c == "\\" and i + 1 < len(raw):
            e = raw[i + 1]
            if e in NAMED:
                out.append(NAMED[e])
                i += 2
            else:
                out.append(chr(int(raw[i + 1 : i + 3], 16)))
                i += 3
        else:
            out.append(c)
            i += 1
    return "".join(out)


CODE_ARGS = ("source", "on-event")  # arguments whose string value is a script


class Checker:
    def __init__(self, tree, name):
        self.tree, self.name, self.problems, self.guarded = tree, name, [], []
        self.guard = 0  # inside the body of a :do with on-error=
        self.where = ""  # the string being checked, for the messages

    def say(self, msg):
        (self.guarded if self.guard else self.problems).append(
            "%s: %s%s" % (self.name, self.where, msg)
        )

    def code(self, raw, label):
        """Checks code carried in a string literal."""
        outer = self.where
        self.where = "%s%s: " % (outer, label)
        try:
            self.block(parse(tokens(decode(raw))), [])
        except SyntaxError as e:
            self.say("does not parse: %s" % e)
        self.where = outer

    def block(self, stmts, menu):
        for s in stmts:
            self.statement(s, menu)

    def values(self, items, menu):
        """Recurse into the groups of items (values, expressions)."""
        for it in items:
            if it[0] != "group":
                continue
            if it[1] == "(":
                for s in it[2]:
                    self.values(s, menu)
            elif it[1] == "[":
                for s in it[2]:
                    self.statement(s, menu)
            else:
                self.block(it[2], menu)

    def statement(self, items, menu):
        """menu: the path (a list) relative commands are looked up in."""
        head = items[0]
        if head[0] == "group":
            self.values(items, menu)
            return
        if head[0] == "str" or head[1].startswith("$"):
            self.values(items, menu)
            return
        word = head[1]
        rest = items[1:]
        if word == ":parse" and rest and rest[0][0] == "str":
            self.code(rest[0][1], "[:parse]")
            return
        if word.startswith(":"):
            name = word[1:]
            node = self.tree.get(name)
            path = [name]
            if node and node.get("_type") in MENU:  # :log info
                if rest and rest[0][0] == "word" and rest[0][1] in children(node):
                    node = node[rest[0][1]]
                    path.append(rest[0][1])
                    rest = rest[1:]
                else:
                    self.say(":%s needs a command" % name)
                    return
            if not node or node.get("_type") != "cmd":
                self.say("no global command :%s" % name)
                self.values(rest, menu)
                return
            self.args(":" + " ".join(path), node, rest, menu, positional=True)
            return
        # a menu path: absolute (/a b c) or relative to menu
        if word.startswith("/"):
            parts = [p for p in word.split("/") if p]
            base = []
        else:
            parts = [word]
            base = list(menu)
        node = self.tree
        for p in base:
            node = node[p]
        path = list(base)
        for p in parts:
            if p not in children(node):
                self.say("no %s in /%s" % (p, " ".join(path)))
                return
            node = node[p]
            path.append(p)
        while node.get("_type") in MENU and rest and rest[0][0] == "word":
            w = rest[0][1]
            if "=" in w:
                break
            if w not in children(node):
                self.say("no %s in /%s" % (w, " ".join(path)))
                return
            node = node[w]
            path.append(w)
            rest = rest[1:]
        if node.get("_type") != "cmd":
            self.say("/%s is a menu, not a command" % " ".join(path))
            return
        self.args("/" + " ".join(path), node, rest, path[:-1], positional=False)

    def args(self, where, node, rest, menu, positional):
        known = children(node)
        takes_positional = positional or bool(POSITIONAL & set(known))
        # the body of `:do { } on-error={ }` is guarded: a compile error of
        # code it parses at run time is caught
        guarded = where == ":do" and any(it[0] == "word" and it[1] == "on-error=" for it in rest)
        for k, it in enumerate(rest):
            if it[0] == "group":
                g = guarded and k == 0
                self.guard += g
                self.values([it], menu)
                self.guard -= g
                continue
            if it[0] == "str":
                prev = rest[k - 1] if k else None
                if prev and prev[0] == "word" and prev[1][:-1] in CODE_ARGS and prev[1].endswith("="):
                    self.code(it[1], prev[1][:-1] + "=")
                continue
            w = it[1]
            if w == "where" and "where" in known:
                # an expression follows: only its groups are commands
                self.values(rest[rest.index(it) + 1 :], menu)
                return
            if "=" in w:
                key = w.split("=", 1)[0]
                if key not in known:
                    self.say("%s has no argument %s=" % (where, key))
                continue
            if w in known or w.startswith("$") or w[:1].isdigit():
                continue
            if not takes_positional:
                self.say("%s has no argument %s" % (where, w))


def source_of(text):
    """The decoded source="..." of the first `/system script add`."""
    at = text.index("/system script add ")
    at = text.index(' source="', at) + len(' source="')
    i = at
    while text[i] != '"':
        i += 2 if text[i] == "\\" else 1
    return decode(text[at:i])


def main(argv):
    if len(argv) == 3 and argv[1] == "--source":
        with open(argv[2]) as f:
            sys.stdout.write(source_of(f.read()))
        return 0
    guarded = len(argv) > 1 and argv[1] == "--guarded"
    if guarded:
        argv = argv[1:]
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    with gzip.open(argv[1], "rt") as f:
        tree = json.load(f)
    problems = []
    for name in argv[2:]:
        with open(name) as f:
            text = f.read()
        c = Checker(tree, name)
        try:
            c.block(parse(tokens(text)), [])
        except SyntaxError as e:
            c.say("does not parse: %s" % e)
        problems += c.problems + (c.guarded if guarded else [])
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
