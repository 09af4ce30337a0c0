#!/bin/sh
# diag_coverage.sh - every error message of dilc has a golden case.
#
# Extracts the format string of every error the compiler can report: the
# format argument of each diag_error(...) and report(...) call and the
# fourth argument of each report_note(...) call in compiler/*.c, *.y and
# *.l (comments stripped, adjacent string literals joined), plus the
# "too many errors" line that diag.c prints itself.  A pure pass-through
# format ("%s") is not a message and is skipped.  Each format becomes an
# anchored pattern: its fixed text literally, each conversion (%s, %d,
# %ld, %c) as ".*".
#
# Then every "error:" line of tests/diag/*.err (and of the full-compile
# goldens tests/fuzz-regress/*.err) is attributed to the most specific
# format it matches (the one with the most fixed text), so that a generic
# format such as "expected %s %s" counts as covered only by a message that
# no more specific format explains.  Fails, naming them, if any format has
# no line, or if an error line matches no format at all.
#
# A few formats cannot have a golden case; they are listed in step 2, each
# with its reason.  "test FILE": the input is too large for tests/diag/
# and FILE tests the message (checked: FILE must contain its fixed text).
# "dead": no input reaches it (a defensive check behind an earlier one).
# "untestable": a limit no test can reach.  An exemption whose format is
# gone from the compiler, or that has a golden case after all, is an error
# too, so that the list stays true.  With -v the script prints each format
# and the first case that covers it (or its exemption).  Run from the
# repository root.
set -u
verbose=0
[ "${1:-}" = "-v" ] && verbose=1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# 1. The formats, one per line, C escapes resolved.
for f in compiler/*.c compiler/*.y compiler/*.l; do
    [ -f "$f" ] && cat "$f" && echo
done | awk '
{ text = text $0 "\n" }
END {
    # Strip comments, keep strings and character literals as they are.
    n = length(text); out = ""; i = 1
    while (i <= n) {
        c = substr(text, i, 1); d = substr(text, i + 1, 1)
        if (c == "/" && d == "*") {
            j = index(substr(text, i + 2), "*/")
            i = j ? i + 2 + j + 1 : n + 1; out = out " "; continue
        }
        if (c == "/" && d == "/") {
            j = index(substr(text, i), "\n")
            i = j ? i + j - 1 : n + 1; continue
        }
        if (c == "\"" || c == "\047") {
            j = i + 1
            while (j <= n && substr(text, j, 1) != c)
                j += substr(text, j, 1) == "\\" ? 2 : 1
            out = out substr(text, i, j - i + 1); i = j + 1; continue
        }
        out = out c; i++
    }
    text = out; n = length(text)
    # Every call of the three reporting functions.
    while (match(text, /(diag_error|report_note|report)\(/)) {
        name = substr(text, RSTART, RLENGTH - 1)
        before = RSTART > 1 ? substr(text, RSTART - 1, 1) : " "
        text = substr(text, RSTART + RLENGTH)
        if (before ~ /[A-Za-z0-9_]/)
            continue
        want = name == "report_note" ? 4 : 2
        # Split the arguments at top-level commas.
        depth = 0; arg = 1; cur = ""; i = 1; m = length(text)
        while (i <= m) {
            c = substr(text, i, 1)
            if (c == "\"" || c == "\047") {
                j = i + 1
                while (j <= m && substr(text, j, 1) != c)
                    j += substr(text, j, 1) == "\\" ? 2 : 1
                if (arg == want) cur = cur substr(text, i, j - i + 1)
                i = j + 1; continue
            }
            if (c == "(" || c == "[" || c == "{") depth++
            if (c == ")" || c == "]" || c == "}") {
                if (depth == 0) break
                depth--
            }
            if (c == "," && depth == 0) { arg++; i++; continue }
            if (arg == want) cur = cur c
            i++
        }
        # The format must be string literals only (this skips the
        # definitions of these functions and pass-through calls).
        fmt = ""; s = cur; ok = 1
        gsub(/^[ \t\n]+|[ \t\n]+$/, "", s)
        while (s != "") {
            if (substr(s, 1, 1) != "\"") { ok = 0; break }
            j = 2
            while (j <= length(s) && substr(s, j, 1) != "\"")
                j += substr(s, j, 1) == "\\" ? 2 : 1
            fmt = fmt substr(s, 2, j - 2)
            s = substr(s, j + 1)
            gsub(/^[ \t\n]+/, "", s)
        }
        if (!ok || fmt == "" || fmt == "%s")
            continue
        gsub(/\\"/, "\"", fmt); gsub(/\\\047/, "\047", fmt); gsub(/\\\\/, "\\", fmt)
        print fmt
    }
    print "too many errors, stopping"
}' | sort -u >"$T/formats"


nf=$(wc -l <"$T/formats")
if [ "$nf" -lt 10 ]; then
    echo "diag_coverage.sh: only $nf formats found; is this the repository root?"
    exit 1
fi

# 2. Formats that cannot have a golden case: FORMAT<TAB>REASON.
cat >"$T/exempt" <<'EOF'
expression nested too deeply	test tests/check_parser.c (more than 1,000,000 levels fill the bison stack: a megabyte of input)
file is too large: more than %ld bytes	test tests/golden/cli.sh (sparse files of 65 MiB and 3 GiB, and /dev/zero)
horizon too large: the loop's stacked values need more doubles of work than the limit, %ld	test tests/check_loop.c (builds a model whose stacked values exceed the limit)
unexpected %s	dead (the parser always expects some token besides operators; no mutation of the models reached it)
expected %s or %s %s	dead (every parser state expects one token besides those continuing an expression, which are not listed; kept for grammar changes)
'%s' has %d dimensions; at most 2 are supported	dead (the parser reports 'at most 2 dimensions' first, and sema does not run after a syntax error)
parameter '%s' has %d dimensions; at most 2 are supported	dead (the same, for fn parameters)
a range 'a:b' may appear only inside an index	dead (the grammar makes a range only inside '[...]', where sema reads it)
an empty vector '[]' has no shape	dead (the grammar needs at least one element in '[...]')
an index needs at least one position	dead (the grammar needs at least one index in 'x[...]')
EOF
status=0
while IFS='	' read -r fmt why; do
    case "$why" in
        test\ *)
            file=${why#test }
            file=${file%% *}
            text=$(printf '%s' "$fmt" | sed 's/%l\{0,1\}[sdcu]//g')
            grep -qF "$text" "$file" ||
                { echo "diag_coverage.sh: $file does not test \"$fmt\""; status=1; }
            ;;
    esac
done <"$T/exempt"

# 3. The error lines of the golden cases: "CASE<TAB>message".  Besides
# tests/diag/ (dilc --check), the NAME.err files of tests/fuzz-regress/
# count: full compiles (tests/golden/fuzz_regress.sh), the only way to
# reach the errors of derivation, which --check does not run.
for e in tests/diag/*.err tests/fuzz-regress/*.err; do
    [ -f "$e" ] || continue
    sed -n "s|^[^ ]*: error: \(.*\)$|$(basename "$e" .err)	\1|p" "$e"
done >"$T/lines"

# 4. Attribute each line to its most specific format; check the formats.
awk -v verbose=$verbose -F '\t' '
function pattern(f,   p, i, c) {
    p = ""
    for (i = 1; i <= length(f); i++) {
        c = substr(f, i, 1)
        if (c == "%") {
            i++
            while (substr(f, i, 1) ~ /[lz0-9.]/) i++
            p = p ".*"
            continue
        }
        if (c ~ /[][\\.*+?(){}|^$]/) p = p "\\" c
        else p = p c
    }
    return "^" p "$"
}
function fixed(f,   t) { t = f; gsub(/%l?[sdcu]/, "", t); return length(t) }
FILENAME == ARGV[1] { why[$1] = $2; next }
FILENAME == ARGV[2] { fmt[++nf] = $0; pat[nf] = pattern($0); len[nf] = fixed($0); next }
{
    best = 0
    for (k = 1; k <= nf; k++)
        if ($2 ~ pat[k] && (best == 0 || len[k] > len[best])) best = k
    if (best && !(best in by)) by[best] = $1
    if (!best) unknown[++nu] = $1 ": " $2
}
END {
    bad = 0; covered = 0; exempt = 0
    for (k = 1; k <= nf; k++) {
        f = fmt[k]
        if ((k in by) && (f in why)) {
            printf "diag_coverage.sh: \"%s\" has a golden case (%s); drop its exemption\n", f, by[k]
            bad++
        } else if (k in by) {
            covered++
            if (verbose) printf "%-28s %s\n", by[k], f
        } else if (f in why) {
            exempt++
            if (verbose) printf "%-28s %s\n", "(" substr(why[f], 1, index(why[f] " ", " ") - 1) ")", f
        } else {
            printf "diag_coverage.sh: no golden case in tests/diag/ (or tests/fuzz-regress/) reports \"%s\"\n", f
            bad++
        }
        seen[f] = 1
    }
    for (f in why)
        if (!(f in seen)) {
            printf "diag_coverage.sh: exempt format \"%s\" is no longer in the compiler\n", f
            bad++
        }
    for (u = 1; u <= nu; u++) {
        printf "diag_coverage.sh: %s matches no format of the compiler\n", unknown[u]
        bad++
    }
    printf "diag_coverage.sh: %d error formats: %d with a golden case, %d exempt, %d problems\n",
        nf, covered, exempt, bad
    exit bad > 0
}' "$T/exempt" "$T/formats" "$T/lines" || status=1
exit $status
