package transport

import (
	"fmt"
	"strings"
)

// maxCommand bounds the command line sent over SSH: sshd hands it to the
// login shell as one argument, and Linux refuses an argument over 128 KiB.
const maxCommand = 120 << 10

// shWrap turns a POSIX shell script into an SSH command that runs it under
// /bin/sh whatever the user's login shell is: sshd runs every command as
// `$SHELL -c COMMAND`, and fish or csh would parse the script themselves.
//
// The command is
//
//	exec /bin/sh -c 'exec /bin/sh -c -- "$(printf "$1")" sh' sh 'ESCAPED'
//
// where ESCAPED is the script with every byte that any of those shells (or
// printf) treats specially inside single quotes written as a printf octal
// escape (\ooo): ', \, %, ! (csh history), newlines and other control
// bytes, and non-ASCII bytes. What is left is a single-quoted word without
// newlines and without a backslash followed by a quote or a backslash, which
// sh, bash, zsh, fish and csh/tcsh all read literally; /bin/sh's printf
// turns it back into the script. The script is not sent on standard input
// (sh -s) so that the commands it runs do not read the rest of it, and no
// tool beyond POSIX sh and printf (base64) is needed on the node.
func shWrap(script string) (string, error) {
	var b strings.Builder
	b.WriteString(`exec /bin/sh -c 'exec /bin/sh -c -- "$(printf "$1")" sh' sh '`)
	for i := 0; i < len(script); i++ {
		c := script[i]
		if c == 0 {
			return "", fmt.Errorf("running a script: it contains a NUL byte")
		}
		if literalInQuotes(c) && !(i == 0 && c == '-') {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, `\%03o`, c)
		}
	}
	b.WriteByte('\'')
	if b.Len() > maxCommand {
		return "", fmt.Errorf("running a script: %d bytes once quoted, more than an SSH command may hold (%d)", b.Len(), maxCommand)
	}
	return b.String(), nil
}

// literalInQuotes reports whether byte c stands for itself inside single
// quotes in every common login shell and in a printf format. A leading '-'
// is escaped apart, lest printf take the format for an option.
func literalInQuotes(c byte) bool {
	if c < ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '\'', '\\', '%', '!':
		return false
	}
	return true
}
