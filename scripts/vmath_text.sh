#!/bin/sh
# vmath_text.sh - turn compiler/vmath.h into the C string table that dilc
# pastes from (compiler/vmath_text.h declares it; compiler/vmath.c uses it).
#
#   sh scripts/vmath_text.sh compiler/vmath.h > build/compiler/vmath_text.c
#
# Every block between a line `/* @fn NAME */` and a line `/* @end */`
# becomes one entry {NAME, text, deps}: the text verbatim (names still
# carry the DILP_ prefix token), deps the space-separated blocks whose
# DILP_ identifiers (functions, or the DILP_VM_INLINE macro) the text uses.
# A block may use only blocks above it, so the table is in an order that
# can be written out as it stands; the script fails if one does not.
set -eu
src=${1:?usage: vmath_text.sh compiler/vmath.h}
awk -v src="$src" '
function esc(s) {
    gsub(/\\/, "\\\\", s)
    gsub(/"/, "\\\"", s)
    return s
}
/^\/\* @fn [a-z0-9_]+ \*\/$/ { name = $3; nb++; bname[nb] = name; text[nb] = ""; inblk = 1; next }
/^\/\* @end \*\/$/ { inblk = 0; next }
inblk {
    text[nb] = text[nb] $0 "\n"
    line[nb, ++nl[nb]] = $0
    # Identifiers this block defines: function names and macros.
    if (match($0, /^DILP_VM_INLINE [a-z0-9_]+ \**DILP_[A-Za-z0-9_]+\(/)) {
        s = substr($0, RSTART, RLENGTH - 1); sub(/.*DILP_/, "DILP_", s); owner[s] = nb
    } else if (match($0, /^#define DILP_[A-Za-z0-9_]+/)) {
        s = substr($0, RSTART + 8, RLENGTH - 8); if (!(s in owner)) owner[s] = nb
    }
}
END {
    if (inblk) { print "vmath_text.sh: unterminated block " name > "/dev/stderr"; exit 1 }
    print "/* vmath_text.c - generated from " src " by scripts/vmath_text.sh; do not edit. */"
    print "#include \"vmath_text.h\""
    print ""
    print "const VmathFn vmath_fns[] = {"
    for (b = 1; b <= nb; b++) {
        deps = ""; delete seen
        for (i = 1; i <= nl[b]; i++) {
            rest = line[b, i]
            while (match(rest, /DILP_[A-Za-z0-9_]+/)) {
                id = substr(rest, RSTART, RLENGTH); rest = substr(rest, RSTART + RLENGTH)
                if (!(id in owner) || owner[id] == b || (owner[id] in seen)) continue
                if (owner[id] > b) {
                    print "vmath_text.sh: block " bname[b] " uses " id " defined below it" > "/dev/stderr"
                    exit 1
                }
                seen[owner[id]] = 1
                deps = deps (deps == "" ? "" : " ") bname[owner[id]]
            }
        }
        printf "    {\"%s\", \"%s\",\n", bname[b], deps
        n = split(text[b], ls, "\n")
        for (i = 1; i < n; i++)
            printf "     \"%s\\n\"%s\n", esc(ls[i]), (i == n - 1 ? "}," : "")
    }
    print "};"
    print "const int vmath_nfns = " nb ";"
}' "$src"
