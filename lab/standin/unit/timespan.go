package unit

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Infinity is the duration systemd calls "infinity": no timeout, no limit.
// TimeoutStartSec=0 and TimeoutStopSec=0 also mean it (systemd.service(5)).
// A span too long for a time.Duration (about 292 years) is Infinity too.
const Infinity = time.Duration(math.MaxInt64)

// units is systemd's extract_multiplier() table, in its order: the first
// prefix that matches wins, so "ms" is not "m" then "s", and "M" (month) is
// not "m" (minute).
var units = []struct {
	suffix string
	usec   uint64
}{
	{"seconds", usecPerSec}, {"second", usecPerSec}, {"sec", usecPerSec}, {"s", usecPerSec},
	{"minutes", usecPerMinute}, {"minute", usecPerMinute}, {"min", usecPerMinute},
	{"months", usecPerMonth}, {"month", usecPerMonth}, {"M", usecPerMonth},
	{"msec", 1000}, {"ms", 1000},
	{"m", usecPerMinute},
	{"hours", usecPerHour}, {"hour", usecPerHour}, {"hr", usecPerHour}, {"h", usecPerHour},
	{"days", usecPerDay}, {"day", usecPerDay}, {"d", usecPerDay},
	{"weeks", 7 * usecPerDay}, {"week", 7 * usecPerDay}, {"w", 7 * usecPerDay},
	{"years", usecPerYear}, {"year", usecPerYear}, {"y", usecPerYear},
	{"usec", 1}, {"us", 1}, {"\u03bcs", 1}, {"\u00b5s", 1},
}

const (
	usecPerSec    = uint64(1000000)
	usecPerMinute = 60 * usecPerSec
	usecPerHour   = 60 * usecPerMinute
	usecPerDay    = 24 * usecPerHour
	usecPerMonth  = 2629800 * usecPerSec  // 30.44 days
	usecPerYear   = 31557600 * usecPerSec // 365.25 days
	usecInfinity  = math.MaxUint64
)

var errTimespan = errors.New("invalid time span")

// ParseTimespan parses a time span as systemd's parse_sec() does
// (systemd.time(7)): a bare number is seconds ("10"), units may follow with
// or without a blank ("5s", "100 ms", "1min"), several add up ("2min 200ms",
// even "5s5" = 10s), fractions are allowed ("1.5s"), and "infinity" is
// Infinity. Units are case-sensitive: "3S" is an error, "1M" a month.
// Precision is systemd's microseconds.
func ParseTimespan(s string) (time.Duration, error) {
	usec, err := parseUsec(s, usecPerSec)
	if err != nil {
		return 0, fmt.Errorf("time span %q: %w", s, err)
	}
	return usecToDuration(usec), nil
}

func usecToDuration(usec uint64) time.Duration {
	if usec >= uint64(Infinity/time.Microsecond) {
		return Infinity
	}
	return time.Duration(usec) * time.Microsecond
}

// parseUsec is systemd's parse_time() with default unit def.
func parseUsec(t string, def uint64) (uint64, error) {
	p := strings.TrimLeft(t, whitespace)
	if rest, ok := strings.CutPrefix(p, "infinity"); ok {
		if strings.Trim(rest, whitespace) != "" {
			return 0, errTimespan
		}
		return usecInfinity, nil
	}
	var usec uint64
	something := false
	for {
		p = strings.TrimLeft(p, whitespace)
		if p == "" {
			if !something {
				return 0, errTimespan
			}
			return usec, nil
		}
		if p[0] == '-' {
			return 0, errors.New("negative time span")
		}
		// strtoll: an optional +, then digits.
		q := p
		if q[0] == '+' {
			q = q[1:]
		}
		n := 0
		for n < len(q) && q[n] >= '0' && q[n] <= '9' {
			n++
		}
		var l uint64
		for _, d := range q[:n] {
			if l > (math.MaxInt64-uint64(d-'0'))/10 {
				return 0, errors.New("time span out of range")
			}
			l = l*10 + uint64(d-'0')
		}
		e := q[n:] // what follows the integer part
		if n == 0 {
			e = p // strtoll converted nothing: "+.5" is not ".5"
		}
		var frac string
		if strings.HasPrefix(e, ".") {
			f := 1
			for f < len(e) && e[f] >= '0' && e[f] <= '9' {
				f++
			}
			frac = e[1:f]
			p = e[f:]
		} else if n == 0 {
			return 0, errTimespan
		} else {
			p = e
		}
		mult := def
		afterBlanks := strings.TrimLeft(p, whitespace)
		s := afterBlanks
		for _, u := range units {
			if rest, ok := strings.CutPrefix(afterBlanks, u.suffix); ok {
				mult, s = u.usec, rest
				break
			}
		}
		// "12.34.56" is an error, "12.34 .56" and "12.34s.56" are not.
		if len(s) == len(p) && s != "" {
			return 0, errTimespan
		}
		p = s
		if l >= usecInfinity/mult {
			return 0, errors.New("time span out of range")
		}
		k := l * mult
		if k >= usecInfinity-usec {
			return 0, errors.New("time span out of range")
		}
		usec += k
		something = true
		if strings.HasPrefix(e, ".") {
			if frac == "" { // "3.", "3.sec"
				return 0, errTimespan
			}
			m := mult / 10
			for _, d := range frac {
				usec += uint64(d-'0') * m
				m /= 10
			}
		}
	}
}
