package nodecache

import "fmt"

// The node's side of the protocol: POSIX sh scripts using only POSIX
// utilities (plus gzip), run as the SSH user, two per build call (the
// lists, then the files and the context; the second starts with the
// first, to wait for its input), plus one to clean up. The cache
// is
//
//	${XDG_CACHE_HOME:-$HOME/.cache}/farm/context/   0700
//	  blobs/HASH-MODE-MTIME    files by content, mode and time, never
//	                           changed once renamed in (hard-linked out)
//	  builds/NONCE/            one build call: k/ (the blobs it uses,
//	                           linked), d/ (copies of blobs it uses under
//	                           more than one path), u/ (the files it
//	                           received), ctx/ (the context), lists
//	  tmp/                     copies being made
//
// A blob's ctime is its last use: linking it into a build sets it.

// prelude starts every script: strict, private files, the C locale, the
// cache directory in $c.
const prelude = `set -u
umask 077
LC_ALL=C
export LC_ALL
case ${XDG_CACHE_HOME:-} in /*) base=$XDG_CACHE_HOME ;; *) base=${HOME:?}/.cache ;; esac
c=$base/farm/context
# rmtree removes trees of the cache, read-only directories too (a context
# may hold one; only root could remove it as it is).
rmtree() { find "$@" -type d -exec chmod u+rwx {} + 2>/dev/null; rm -rf -- "$@"; }
`

// Exit codes of the scripts, for messages.
const (
	exitNoTool     = 3 // a utility is missing
	exitNotWritten = 4 // the cache cannot be made or written
	exitInput      = 5 // standard input was cut short
	exitReceived   = 6 // the files and the context did not arrive whole
	exitStore      = 7 // received or copied files could not be stored
)

// prepareScript starts a build call's directory: it reads a gzipped list
// of "w KEY STAMP" lines (the keys the call uses, STAMP the time in
// touch -t form, UTC) and "d N KEY" lines (copies to make), ending with
// "e COUNT" (the number of lines before it); links the
// blobs the cache holds into the call's k/; copies those whose content
// the cache holds under another mode or time; makes the copies d/N of
// what k/ holds; and prints the call's directory, then the keys it lacks.
func prepareScript(nonce string) string {
	return prelude + fmt.Sprintf(`n=%s
for t in gzip tar ln cp mv rm mkdir chmod touch find ls awk xargs du cat pwd; do
	command -v "$t" >/dev/null 2>&1 || { echo "farm: $t is missing on the node" >&2; exit %[2]d; }
done
mkdir -p "$c/blobs" "$c/builds" "$c/tmp" && chmod 700 "$c" "$c/blobs" "$c/builds" "$c/tmp" || exit %[3]d
b=$c/builds/$n
mkdir "$b" "$b/k" "$b/d" "$b/u" "$b/ctx" && : >"$b/want" && : >"$b/dups" || exit %[3]d
gzip -dc | awk -v want="$b/want" -v dups="$b/dups" '
	$1 == "w" { print $2, $3 > want; n++ }
	$1 == "d" { print $2, $3 > dups; n++ }
	$1 == "e" { end = $2 }
	END { if (end == "" || end != n) exit 1 }
' || exit %[4]d
awk '{ print $1 }' "$b/want" | (cd "$c/blobs" && xargs sh -c 'ln -- "$@" "$0" 2>/dev/null; exit 0' "$b/k")
lacking() {
	ls "$b/k" | awk 'f == 1 { have[$0] = 1; next } !($1 in have) { print $1 }' f=1 - f=2 "$b/want"
}
lacking >"$b/lack"
if [ -s "$b/lack" ]; then
	ls "$c/blobs" | awk '
		f == 1 { stamp[$1] = $2; next }
		f == 2 { split($1, p, "-"); lack[$1] = p[1]; need[p[1]] = 1; next }
		{ split($0, p, "-"); if ((p[1] in need) && !(p[1] in src)) src[p[1]] = $0 }
		END { for (k in lack) if (lack[k] in src) { split(k, p, "-"); print src[lack[k]], k, p[2], stamp[k] } }
	' f=1 "$b/want" f=2 "$b/lack" f=3 - >"$b/copies"
	while read -r src k m s; do
		t=$c/tmp/$n.$k
		if [ -r "$c/blobs/$src" ] && cp -- "$c/blobs/$src" "$t" && chmod "$m" "$t" && TZ=UTC0 touch -t "$s" "$t" && ln -- "$t" "$b/k/$k"; then
			mv -f -- "$t" "$c/blobs/$k"
		else
			rm -f -- "$t"
		fi
	done <"$b/copies"
fi
while read -r d k; do
	if [ -f "$b/k/$k" ]; then cp -p -- "$b/k/$k" "$b/d/$d" || exit %[5]d; fi
done <"$b/dups"
(cd "$b" && pwd -P) || exit %[3]d
lacking
`, nonce, exitNoTool, exitNotWritten, exitInput, exitStore)
}

// assembleScript receives a call's files and context. It starts with
// prepareScript and waits for a line "go ENTRIES" on its standard input,
// sent once prepareScript is done; then comes a gzipped tar of the files
// the call lacked (u/KEY), the copies it could not make (d/N), the
// context (ctx/, every file a hard link to k/KEY, u/KEY or d/N), the
// Containerfile when it lies outside (cf/), ending with the end marker
// after ENTRIES entries. Only once it all arrived are the files received
// moved into the cache.
func assembleScript(nonce string) string {
	return prelude + fmt.Sprintf(`n=%s
b=$c/builds/$n
read -r word entries || exit %d
[ "$word" = go ] && [ -d "$b/ctx" ] || exit %d
if ! (umask 0 && cd "$b" && gzip -dc | tar -xf -) || [ "$(cat "$b/farm-end" 2>/dev/null)" != "farm-end $entries" ]; then
	echo "farm: the files and the context did not arrive whole" >&2
	exit %d
fi
rm -f -- "$b/farm-end"
if [ -n "$(ls "$b/u")" ]; then
	(cd "$b/u" && ls | xargs sh -c 'mv -f -- "$@" "$0"' "$c/blobs") || exit %d
fi
`, nonce, exitInput, exitNotWritten, exitReceived, exitStore)
}

// finishScript removes a call's directory, then bounds the cache: it
// removes what calls of more than two days ago left (their client went
// away), the blobs unused for maxAgeDays days and, when the blobs take
// more than maxBytes, the least recently used ones down to 90%% of it. In
// the background, the script ends once the directory is gone and the
// rest goes on, detached.
func finishScript(nonce string, maxAgeDays int, maxBytes int64, background bool) string {
	detach := ""
	if background {
		detach = "</dev/null >/dev/null 2>&1 &"
	}
	return prelude + fmt.Sprintf(`n=%s
rmtree "$c/builds/$n"
[ -d "$c/blobs" ] || exit 0
(
	find "$c/builds/." "$c/tmp/." ! -name . -prune -mtime +1 -exec sh -c 'find "$@" -type d -exec chmod u+rwx {} + 2>/dev/null; rm -rf -- "$@"' sh {} +
	find "$c/blobs/." ! -name . -prune -type f -ctime +%d -exec rm -f -- {} +
	used=$(du -sk "$c/blobs" | awk '{ print $1 }')
	if [ "$used" -gt %d ]; then
		cd "$c/blobs" && ls -lnct | awk -v keep=%d '/^-/ { s += $5; if (s > keep) print $NF }' | xargs rm -f --
	fi
) %s
exit 0
`, nonce, maxAgeDays-1, maxBytes/1024, maxBytes/10*9, detach)
}

// pruneScript prints the cache's size in KiB, its number of blobs and,
// unless dryRun, empties it (the calls under way keep what they linked)
// and prints its size after.
func pruneScript(dryRun bool) string {
	dry := 0
	if dryRun {
		dry = 1
	}
	return prelude + fmt.Sprintf(`[ -d "$c" ] || { echo 0 0 0; exit 0; }
files=$(ls "$c/blobs" 2>/dev/null | wc -l)
before=$(du -sk "$c" | awk '{ print $1 }')
if [ %d = 0 ]; then
	find "$c/blobs/." ! -name . -prune -exec rm -rf -- {} +
	find "$c/builds/." "$c/tmp/." ! -name . -prune -mtime +1 -exec sh -c 'find "$@" -type d -exec chmod u+rwx {} + 2>/dev/null; rm -rf -- "$@"' sh {} +
fi
after=$(du -sk "$c" | awk '{ print $1 }')
echo "$before $files $after"
`, dry)
}
