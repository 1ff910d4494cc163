package bake

import (
	"fmt"
	"strings"
)

// interpolate expands compose's variables in s from env: $VAR, ${VAR},
// ${VAR:-default}, ${VAR-default}, ${VAR:+alt}, ${VAR+alt},
// ${VAR:?message}, ${VAR?message}, and $$ for a dollar. The default,
// alternative and message are expanded too.
func interpolate(s string, env map[string]string) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		switch n := s[i+1]; {
		case n == '$':
			b.WriteByte('$')
			i += 2
		case n == '{':
			end := closing(s, i+2)
			if end < 0 {
				return "", fmt.Errorf("%q: unclosed ${", s)
			}
			v, err := expandBraced(s[i+2:end], env)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i = end + 1
		case isNameStart(n):
			j := i + 1
			for j < len(s) && isNameChar(s[j]) {
				j++
			}
			b.WriteString(env[s[i+1:j]])
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}

// closing finds the "}" that closes a "${" whose body starts at from.
func closing(s string, from int) int {
	depth := 1
	for i := from; i < len(s); i++ {
		switch {
		case s[i] == '$' && i+1 < len(s) && s[i+1] == '{':
			depth++
			i++
		case s[i] == '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// expandBraced expands the inside of ${...}.
func expandBraced(body string, env map[string]string) (string, error) {
	j := 0
	for j < len(body) && isNameChar(body[j]) {
		j++
	}
	name, rest := body[:j], body[j:]
	if name == "" || !isNameStart(name[0]) {
		return "", fmt.Errorf("${%s}: invalid variable name", body)
	}
	val, set := env[name]
	if rest == "" {
		return val, nil
	}
	colon := strings.HasPrefix(rest, ":")
	op := strings.TrimPrefix(rest, ":")
	if op == "" {
		return "", fmt.Errorf("${%s}: invalid expansion", body)
	}
	word, err := interpolate(op[1:], env)
	if err != nil {
		return "", err
	}
	empty := !set || (colon && val == "")
	switch op[0] {
	case '-':
		if empty {
			return word, nil
		}
		return val, nil
	case '+':
		if empty {
			return "", nil
		}
		return word, nil
	case '?':
		if empty {
			return "", fmt.Errorf("required variable %s is missing a value: %s", name, word)
		}
		return val, nil
	default:
		return "", fmt.Errorf("${%s}: invalid expansion", body)
	}
}

func isNameStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isNameChar(c byte) bool { return isNameStart(c) || (c >= '0' && c <= '9') }
