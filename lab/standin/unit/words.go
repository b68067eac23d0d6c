package unit

import (
	"errors"
	"strings"
)

// whitespace is systemd's WHITESPACE: what separates words and what
// strstrip() removes.
const whitespace = " \t\n\r"

// extractFlags are the subset of systemd's ExtractFlags that unit files use.
type extractFlags uint

const (
	// unquote: '...' and "..." group a word and are removed.
	unquote extractFlags = 1 << iota
	// cunescape: \n, \t, \x41, \101, \u00e9 ... are decoded (systemd.syntax(7),
	// "Quoting").
	cunescape
	// unescapeRelax: an unknown escape is kept verbatim (backslash and all)
	// instead of failing.
	unescapeRelax
	// relax: an unbalanced quote or a trailing backslash ends the word
	// instead of failing.
	relax
	// retainEscape: a backslash is an ordinary character.
	retainEscape
)

// errBadWord is extract_first_word's -EINVAL: an unbalanced quote, a
// trailing backslash, or (without unescapeRelax) an unknown escape.
var errBadWord = errors.New("bad quoting or escape")

// extractWord is systemd's extract_first_word() with separators WHITESPACE:
// it returns the first word of s and what follows it. ok is false when s
// holds no word. Quotes may open anywhere in a word (a"b c"d is one word,
// "ab cd"), which systemd.syntax(7) does not promise but systemd 252 does.
func extractWord(s string, flags extractFlags) (word, rest string, ok bool, err error) {
	i := 0
	for i < len(s) && strings.IndexByte(whitespace, s[i]) >= 0 {
		i++
	}
	if i == len(s) {
		return "", "", false, nil
	}
	var b []byte
	var quote byte
	for i < len(s) {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
				i++
				continue
			}
			if c == '\\' && flags&retainEscape == 0 {
				n, e := unescapeAt(s, i, flags, &b)
				if e != nil {
					return "", "", false, e
				}
				i = n
				continue
			}
			b = append(b, c)
			i++
		case (c == '\'' || c == '"') && flags&unquote != 0:
			quote = c
			i++
		case c == '\\' && flags&retainEscape == 0:
			n, e := unescapeAt(s, i, flags, &b)
			if e != nil {
				return "", "", false, e
			}
			i = n
		case strings.IndexByte(whitespace, c) >= 0:
			for i < len(s) && strings.IndexByte(whitespace, s[i]) >= 0 {
				i++
			}
			return string(b), s[i:], true, nil
		default:
			b = append(b, c)
			i++
		}
	}
	if quote != 0 && flags&relax == 0 {
		return "", "", false, errBadWord
	}
	return string(b), "", true, nil
}

// unescapeAt handles the backslash at s[i], appending what it stands for to
// *b, and returns the index after the escape.
func unescapeAt(s string, i int, flags extractFlags, b *[]byte) (int, error) {
	i++ // the backslash
	if i == len(s) {
		if flags&unescapeRelax != 0 {
			*b = append(*b, '\\')
			return i, nil
		}
		if flags&relax != 0 {
			return i, nil
		}
		return i, errBadWord
	}
	if flags&cunescape == 0 {
		*b = append(*b, s[i])
		return i + 1, nil
	}
	if out, n, ok := cunescapeOne(s[i:]); ok {
		*b = append(*b, out...)
		return i + n, nil
	}
	if flags&unescapeRelax != 0 {
		*b = append(*b, '\\', s[i])
		return i + 1, nil
	}
	return i, errBadWord
}

// cunescapeOne decodes the escape whose letter starts s (the backslash
// already consumed), as systemd's cunescape_one() with NUL refused. It
// returns the bytes, how much of s they used, and false for an unknown or
// malformed escape.
func cunescapeOne(s string) ([]byte, int, bool) {
	switch s[0] {
	case 'a':
		return []byte{'\a'}, 1, true
	case 'b':
		return []byte{'\b'}, 1, true
	case 'f':
		return []byte{'\f'}, 1, true
	case 'n':
		return []byte{'\n'}, 1, true
	case 'r':
		return []byte{'\r'}, 1, true
	case 't':
		return []byte{'\t'}, 1, true
	case 'v':
		return []byte{'\v'}, 1, true
	case '\\', '"', '\'':
		return []byte{s[0]}, 1, true
	case 's':
		return []byte{' '}, 1, true
	case 'x':
		if len(s) < 3 {
			return nil, 0, false
		}
		a, b := unhex(s[1]), unhex(s[2])
		if a < 0 || b < 0 || a == 0 && b == 0 {
			return nil, 0, false
		}
		// A raw byte, not a code point: \xff is the byte 0xff.
		return []byte{byte(a<<4 | b)}, 3, true
	case 'u', 'U':
		n := 4
		if s[0] == 'U' {
			n = 8
		}
		if len(s) < 1+n {
			return nil, 0, false
		}
		var c uint32
		for k := 1; k <= n; k++ {
			d := unhex(s[k])
			if d < 0 {
				return nil, 0, false
			}
			c = c<<4 | uint32(d)
		}
		if c == 0 || s[0] == 'U' && !unicharValid(c) {
			return nil, 0, false
		}
		return utf8EncodeUnichar(c), 1 + n, true
	case '0', '1', '2', '3', '4', '5', '6', '7':
		if len(s) < 3 {
			return nil, 0, false
		}
		a, b, c := unoct(s[0]), unoct(s[1]), unoct(s[2])
		if a < 0 || b < 0 || c < 0 || a == 0 && b == 0 && c == 0 {
			return nil, 0, false
		}
		m := a<<6 | b<<3 | c
		if m > 255 {
			return nil, 0, false
		}
		return []byte{byte(m)}, 3, true
	}
	return nil, 0, false
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

func unoct(c byte) int {
	if c >= '0' && c <= '7' {
		return int(c - '0')
	}
	return -1
}

// unicharValid is systemd's unichar_is_valid().
func unicharValid(c uint32) bool {
	return c < 0x110000 && c&0xFFFFF800 != 0xD800 && !(c >= 0xFDD0 && c <= 0xFDEF) && c&0xFFFE != 0xFFFE
}

// utf8EncodeUnichar is systemd's utf8_encode_unichar(): plain UTF-8 with no
// validity check, so \uD800 gives the same three bytes it gives systemd
// (utf8.EncodeRune would write U+FFFD).
func utf8EncodeUnichar(c uint32) []byte {
	switch {
	case c < 0x80:
		return []byte{byte(c)}
	case c < 0x800:
		return []byte{0xc0 | byte(c>>6), 0x80 | byte(c&0x3f)}
	case c < 0x10000:
		return []byte{0xe0 | byte(c>>12), 0x80 | byte(c>>6&0x3f), 0x80 | byte(c&0x3f)}
	default:
		return []byte{0xf0 | byte(c>>18&0x07), 0x80 | byte(c>>12&0x3f), 0x80 | byte(c>>6&0x3f), 0x80 | byte(c&0x3f)}
	}
}
