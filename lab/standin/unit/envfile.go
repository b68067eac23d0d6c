package unit

import (
	"bytes"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ParseEnvFile reads an EnvironmentFile= the way systemd 252 does
// (parse_env_file_internal, then strv_env_clean), returning KEY=VALUE
// assignments in the order of first assignment, a later one winning.
//
// The format is not shell, though it looks like it:
//   - a line whose first non-blank character is # or ; is a comment, and a
//     backslash at the end of a comment line continues the comment (systemd
//     254 changed this; 252 is what bookworm runs);
//   - blanks around the key and around an unquoted value are dropped;
//   - '...' is literal; in "..." a backslash escapes only " \ ` $ and a
//     newline, and is kept before any other character ("\n" stays
//     backslash-n); outside quotes a backslash takes the next character
//     literally and a backslash-newline joins lines;
//   - quotes count only where a value starts (after =, or after a quoted
//     part and blanks): A="x"y is xy, A=x"y" is x"y";
//   - an unterminated quote runs to the end of the file;
//   - "export A=1" is not an assignment of A: its key "export A" is not a
//     valid name, and systemd drops it, as it drops every line whose key is
//     not a valid variable name and every line with no =.
//
// The error is for bytes that are not UTF-8, which make systemd refuse the
// whole file.
func ParseEnvFile(data []byte) ([]string, error) {
	// systemd reads the file into a C string: a NUL ends it.
	if i := bytes.IndexByte(data, 0); i >= 0 {
		data = data[:i]
	}
	const (
		preKey = iota
		inKey
		preValue
		inValue
		valueEscape
		singleQuote
		doubleQuote
		doubleQuoteEscape
		comment
		commentEscape
	)
	var (
		env        []string
		key, value []byte
		// Where trailing blanks of the key or value start, -1 if they do
		// not end in blanks.
		keyWS, valueWS = -1, -1
		line           = 1
		state          = preKey
	)
	isNL := func(c byte) bool { return c == '\n' || c == '\r' }
	isWS := func(c byte) bool { return strings.IndexByte(whitespace, c) >= 0 }
	var err error
	push := func(chomp bool) {
		if keyWS >= 0 {
			key = key[:keyWS]
		}
		if chomp && valueWS >= 0 {
			value = value[:valueWS]
		}
		k, v := string(key), string(value)
		if err == nil && (!utf8.ValidString(k) || !utf8.ValidString(v)) {
			err = fmt.Errorf("line %d: invalid UTF-8", line)
		}
		if envNameValid(k) {
			env = envReplace(env, k+"="+v)
		}
		key, value = key[:0], nil
	}
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch state {
		case preKey:
			switch {
			case c == '#' || c == ';':
				state = comment
			case !isWS(c):
				state = inKey
				keyWS = -1
				key = append(key, c)
			}
		case inKey:
			switch {
			case isNL(c):
				state = preKey
				line++
				key = key[:0]
			case c == '=':
				state = preValue
				valueWS = -1
			default:
				if !isWS(c) {
					keyWS = -1
				} else if keyWS < 0 {
					keyWS = len(key)
				}
				key = append(key, c)
			}
		case preValue:
			switch {
			case isNL(c):
				state = preKey
				line++
				push(false)
			case c == '\'':
				state = singleQuote
			case c == '"':
				state = doubleQuote
			case c == '\\':
				state = valueEscape
			case !isWS(c):
				state = inValue
				value = append(value, c)
			}
		case inValue:
			switch {
			case isNL(c):
				state = preKey
				line++
				push(true)
			case c == '\\':
				state = valueEscape
				valueWS = -1
			default:
				if !isWS(c) {
					valueWS = -1
				} else if valueWS < 0 {
					valueWS = len(value)
				}
				value = append(value, c)
			}
		case valueEscape:
			state = inValue
			if !isNL(c) {
				value = append(value, c)
			}
		case singleQuote:
			if c == '\'' {
				state = preValue
			} else {
				value = append(value, c)
			}
		case doubleQuote:
			switch c {
			case '"':
				state = preValue
			case '\\':
				state = doubleQuoteEscape
			default:
				value = append(value, c)
			}
		case doubleQuoteEscape:
			state = doubleQuote
			switch {
			case strings.IndexByte("\"\\`$", c) >= 0:
				value = append(value, c)
			case c != '\n':
				value = append(value, '\\', c)
			}
		case comment:
			if c == '\\' {
				state = commentEscape
			} else if isNL(c) {
				state = preKey
				line++
			}
		case commentEscape:
			state = comment
		}
	}
	switch state {
	case preValue, inValue, valueEscape, singleQuote, doubleQuote, doubleQuoteEscape:
		push(state == inValue)
	}
	if err != nil {
		return nil, err
	}
	return env, nil
}

// envNameValid is systemd's env_name_is_valid(): letters, digits and _, not
// starting with a digit.
func envNameValid(k string) bool {
	if k == "" || k[0] >= '0' && k[0] <= '9' {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// envAssignmentValid is systemd's env_assignment_is_valid().
func envAssignmentValid(a string) bool {
	k, v, ok := strings.Cut(a, "=")
	return ok && envNameValid(k) && utf8.ValidString(v)
}

// envReplace is systemd's strv_env_replace(): a variable already in env
// keeps its place and takes the new value; a new one is appended.
func envReplace(env []string, a string) []string {
	k, _, _ := strings.Cut(a, "=")
	for i, e := range env {
		if strings.HasPrefix(e, k) && len(e) > len(k) && e[len(k)] == '=' {
			env[i] = a
			return env
		}
	}
	return append(env, a)
}

// envGet is the value of variable k in env, and whether it is set.
func envGet(env []string, k string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		e := env[i]
		if strings.HasPrefix(e, k) && len(e) > len(k) && e[len(k)] == '=' {
			return e[len(k)+1:], true
		}
	}
	return "", false
}
