#!/usr/bin/env python3
# The man pages (issue 16): each renders with `man -l` and groff without a
# warning, and `mandoc -Tlint` reports nothing, not even at style level,
# with the cross references between the pages checked (-M over a copy of
# them, since they are not installed). And they do not drift from the code:
# the settings of fcgiwsgi.yaml(5), with their section (top, pool,
# processes, app), type, default and range, are those of the loader's
# tables (printed by t/unit/schema_keys, which reads conf/schema.h's
# fw_conf_schema_tables()), and so are the settings the example
# conf/fcgiwsgi.yaml.example writes. A setting added to the loader fails
# here until both document it. The programs' pages name the options (and
# fcgiwsgi-ctl's the commands) that their --help lists, and no other.
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), 'lib'))
from fwtest import *  # noqa: E402,F401

PAGES = ['fcgiwsgi.8', 'fcgiwsgi-ctl.8', 'fcgiwsgi-responder.8', 'fcgiwsgi.yaml.5']
# mandoc -Tlint -W style messages accepted, as (page, regex), each with why.
# None today: keep it that way unless a message cannot be helped.
ACCEPTED_LINT = []
WIDTH = 80

mandir = os.path.join(src_dir(), 'man')
pages = {p: os.path.join(mandir, p) for p in PAGES}

is_(sorted(os.listdir(mandir)), sorted(PAGES), 'man/ holds the pages this test checks')
with open(os.path.join(src_dir(), 'Makefile.am')) as f:
    makefile = f.read()
for p in PAGES:
    like(makefile, r'\bman/%s\b' % re.escape(p), 'Makefile.am installs %s' % p)


def run(argv, env=None, **kw):
    e = dict(os.environ, LC_ALL='C.UTF-8', MANWIDTH=str(WIDTH), MANPAGER='cat', PAGER='cat')
    e.update(env or {})
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=e, **kw)


# ---- rendering and lint -------------------------------------------------------

mandoc = shutil.which('mandoc')
makewhatis = shutil.which('makewhatis') or ('/usr/sbin/makewhatis'
                                            if os.access('/usr/sbin/makewhatis', os.X_OK) else None)
if mandoc and makewhatis:
    # Xr references are looked up in -M's tree: a copy (makewhatis skips
    # symlinks), indexed, or mandoc says the index lacks them.
    tree = os.path.join(tmpdir(), 'mantree')
    for p, path in pages.items():
        d = os.path.join(tree, 'man' + p.rsplit('.', 1)[1])
        os.makedirs(d, exist_ok=True)
        shutil.copy(path, d)
    r = run([makewhatis, tree])
    is_(r.returncode, 0, 'makewhatis indexes the copy')
    for p, path in pages.items():
        r = run([mandoc, '-Tlint', '-W', 'style', '-M', tree, path])
        msgs = [m for m in (r.stdout + r.stderr).splitlines()
                if not any(ap == p and re.search(rx, m) for ap, rx in ACCEPTED_LINT)]
        is_(msgs, [], 'mandoc -Tlint -W style %s: no message' % p)
else:
    skip('mandoc not installed (t/deps.sh test installs it)', len(PAGES))

groff = shutil.which('groff')
for p, path in pages.items():
    if not groff:
        skip('groff not installed')
        continue
    r = run([groff, '-mandoc', '-Tutf8', '-ww', '-z', path])
    ok(r.returncode == 0 and r.stderr == '', 'groff -ww %s: no warning' % p,
       got=(r.returncode, r.stderr))

man = shutil.which('man')
for p, path in pages.items():
    if not man:
        skip('man not installed (man-db)', 3)
        continue
    r = run([man, '--warnings', '-l', path])
    ok(r.returncode == 0 and r.stderr == '', 'man -l %s: rendered without a warning' % p,
       got=(r.returncode, r.stderr))
    name = p.rsplit('.', 1)[0]
    like(r.stdout, r'(?m)^NAME\n\s+%s\s' % re.escape(name), 'man -l %s: NAME names it' % p)
    wide = [line for line in r.stdout.splitlines() if len(line) > WIDTH]
    is_(wide, [], 'man -l %s: no line past %d columns' % (p, WIDTH))

# ---- the programs' options and commands: page and --help ------------------------

def page_source(name):
    with open(pages[name]) as f:
        return f.read()


for prog in ('fcgiwsgi', 'fcgiwsgi-ctl', 'fcgiwsgi-responder'):
    r = run([program(prog), '--help'])
    helped = set(re.findall(r'--[a-z][a-z-]+', r.stdout))
    documented = {'--' + o for o in re.findall(r'\bFl -([a-z][a-z-]+)', page_source(prog + '.8'))}
    ok(helped and helped == documented, '%s(8) documents the options --help lists, and no other'
       % prog, got='--help only: %s; page only: %s' % (sorted(helped - documented),
                                                      sorted(documented - helped)))
r = run([program('fcgiwsgi-ctl'), '--help'])
block = r.stdout.split('Commands:', 1)[-1].split('\n\n', 1)[0]
helped = set(re.findall(r'(?m)^  ([a-z][a-z-]+)', block)) | set(re.findall(r' / ([a-z][a-z-]+)',
                                                                              block))
commands = page_source('fcgiwsgi-ctl.8').split('.Sh COMMANDS', 1)[-1].split('.Sh ', 1)[0]
documented = set(re.findall(r'(?m)^\.It Ic ([a-z][a-z-]+)', commands))
ok(len(helped) >= 8 and helped == documented,
   'fcgiwsgi-ctl(8) documents the commands --help lists, and no other',
   got='--help only: %s; page only: %s' % (sorted(helped - documented),
                                          sorted(documented - helped)))

# ---- the settings: page, example and the loader's tables ---------------------

schema_keys = os.path.join(build_dir(), 't', 'unit', 'schema_keys')
if not os.access(schema_keys, os.X_OK):
    ok(False, 'schema_keys is built', got='%s is missing: run make check (or make '
       't/unit/schema_keys) in the build directory' % schema_keys)
    done_testing()
r = run([schema_keys])
is_(r.returncode, 0, 'schema_keys prints the tables', ) or diag(r.stderr)
schema = {}
for line in r.stdout.splitlines():
    sec, key, typ, default, lo, hi = line.split('\t')
    schema[(sec, key)] = {'type': typ, 'default': default, 'min': lo, 'max': hi}
ok(len(schema) >= 40 and {s for s, _ in schema} == {'top', 'pool', 'processes', 'app'},
   'the tables have top, pool, processes and app settings', got=len(schema))

UNITS_MS = {'ms': 1, 's': 1000, 'm': 60000, 'h': 3600000}
UNITS_B = {'': 1, 'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30, 't': 1 << 40}


def canon(typ, text):
    """text as the tables print a value of typ (lib/units' notation undone),
    or None if it is not one."""
    if typ == 'number':
        return text if re.fullmatch(r'\d+', text) else None
    if typ == 'duration':
        m = re.fullmatch(r'(\d+)(ms|s|m|h)?', text)
        return str(int(m.group(1)) * UNITS_MS[m.group(2) or 's']) if m else None
    if typ == 'size':
        m = re.fullmatch(r'(\d+)([kmgt]?)b?', text, re.I)
        return str(int(m.group(1)) * UNITS_B[m.group(2).lower()]) if m else None
    if typ == 'mode':
        return '%04o' % int(text, 8) if re.fullmatch(r'[0-7]{1,4}', text) else None
    if typ == 'boolean':
        return text if text in ('true', 'false') else None
    return text


def page_settings(path):
    """{(section, key): item} from the page's source: after a '.\\" keys:
    SECTION' line, each '.It Ic KEY : Ar TYPE' of a tag list, with its
    'Default: VALUE.' (or 'Default: words', or 'Required.') and 'Range: A
    to B.' lines."""
    found, problems = {}, []
    section, item, depth, item_depth = None, None, 0, None
    with open(path) as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines, 1):
        m = re.fullmatch(r'\.\\" keys: (\w+)', line)
        if m:
            section = m.group(1)
            continue
        if line.startswith('.Bl'):
            depth += 1
        elif line.startswith('.El'):
            if item is not None and depth == item_depth:
                item = None
            depth -= 1
        elif line.startswith('.Sh') or line.startswith('.Ss'):
            item = None
        m = re.fullmatch(r'\.It Ic ([a-z_]+) : Ar (.+)', line)
        if m:
            if section is None:
                problems.append('%d: %s before any keys: line' % (n, m.group(1)))
                continue
            k = (section, m.group(1))
            if k in found:
                problems.append('%d: %s %s documented twice' % (n, *k))
            item = found[k] = {'type': m.group(2), 'line': n, 'default': None,
                               'range': None, 'required': False}
            item_depth = depth
            continue
        if item is None:
            continue
        if line.startswith('.It') and depth == item_depth:
            item = None
            continue
        if line.startswith('Default:'):
            # The sentence may go on over more lines; a value is one word.
            item['default'] = re.sub(r'\.$', '', line[len('Default:'):].strip())
        m = re.fullmatch(r'Range: (\S+) to (\S+)\.', line)
        if m:
            item['range'] = (m.group(1), m.group(2))
        if line == 'Required.':
            item['required'] = True
    return found, problems


def key_list(keys):
    return ', '.join('%s %s' % k for k in sorted(keys)) or 'none'


page, problems = page_settings(pages['fcgiwsgi.yaml.5'])
is_(problems, [], 'fcgiwsgi.yaml(5) parses: every setting once, in a section')
ok(set(page) == set(schema),
   'fcgiwsgi.yaml(5) documents every setting of the tables, and no other',
   got='in the tables only: %s; on the page only: %s'
   % (key_list(set(schema) - set(page)), key_list(set(page) - set(schema))))

r = run([schema_keys, '--example', os.path.join(src_dir(), 'conf', 'fcgiwsgi.yaml.example')])
is_(r.returncode, 0, 'schema_keys reads the example') or diag(r.stderr)
example = {tuple(line.split('\t')) for line in r.stdout.splitlines()}
ok(example == set(schema),
   'conf/fcgiwsgi.yaml.example writes every setting of the tables, and no other',
   got='in the tables only: %s; in the example only: %s'
   % (key_list(set(schema) - example), key_list(example - set(schema))))

# Type, default and range of each setting the page and the tables share.
PAGE_TYPE = {'paths': 'list of paths'}
bad = []
for k in sorted(set(page) & set(schema)):
    s, p = schema[k], page[k]
    where = 'fcgiwsgi.yaml.5:%d: %s %s' % (p['line'], *k)
    if s['type'] != 'custom' and p['type'] != PAGE_TYPE.get(s['type'], s['type']):
        bad.append('%s: type %r, the table reads a %s' % (where, p['type'], s['type']))
    if p['default'] is None and not p['required']:
        bad.append('%s: no "Default: ..." (or "Required.") line' % where)
    if s['default'] != '-':
        if p['default'] is None or canon(s['type'], p['default']) != s['default']:
            bad.append('%s: "Default: %s.", the default is %s (as the table prints it)'
                       % (where, p['default'], s['default']))
    if s['min'] != '-':
        want = (s['min'], s['max'])
        got = p['range'] and tuple(canon(s['type'], v) for v in p['range'])
        if got != want:
            bad.append('%s: "Range: %s", the table has %s to %s'
                       % (where, p['range'] and ' to '.join(p['range']), *want))
    elif p['range'] and s['type'] != 'custom':
        bad.append('%s: a range, and the table has none' % where)
is_(bad, [], "fcgiwsgi.yaml(5) states each setting's type, default and range as the tables do")

done_testing()
