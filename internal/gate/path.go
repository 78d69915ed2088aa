package gate

import (
	"errors"
	"net/url"
	"strings"
	"unicode/utf8"
)

// ErrAmbiguousPath is a request path that origins may route in more than
// one way: the gate refuses it (400) rather than guess which.
var ErrAmbiguousPath = errors.New("ambiguous path")

// Normalize returns the path an origin such as nginx routes on: the
// escaped request path decoded once, dot segments removed and runs of
// slashes folded. The gate decides on this path and forwards exactly it,
// so the site cannot be reached by a spelling the gate read otherwise.
//
// Paths that other origins would read differently are refused with
// ErrAmbiguousPath: a backslash (a separator on Windows servers), a
// control byte or NUL, invalid UTF-8, a second layer of percent-encoding
// (%252e: origins that decode twice see a dot), a dot segment with a
// parameter (..;/, which Tomcat treats as ..), and a climb above the root.
func Normalize(escaped string) (string, error) {
	if !strings.HasPrefix(escaped, "/") {
		return "", ErrAmbiguousPath
	}
	dec, err := url.PathUnescape(escaped)
	if err != nil || !utf8.ValidString(dec) {
		return "", ErrAmbiguousPath
	}
	for i := 0; i < len(dec); i++ {
		if c := dec[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "", ErrAmbiguousPath
		}
	}
	if strings.Contains(dec, "%") {
		if again, err := url.PathUnescape(dec); err == nil && again != dec {
			return "", ErrAmbiguousPath
		}
	}
	segs := strings.Split(dec[1:], "/")
	out := make([]string, 0, len(segs))
	trailing := false
	for i, s := range segs {
		last := i == len(segs)-1
		if name, _, ok := strings.Cut(s, ";"); ok && (name == "." || name == "..") {
			return "", ErrAmbiguousPath
		}
		switch s {
		case "", ".":
			trailing = last
		case "..":
			if len(out) == 0 {
				return "", ErrAmbiguousPath
			}
			out = out[:len(out)-1]
			trailing = last
		default:
			out = append(out, s)
			trailing = false
		}
	}
	p := "/" + strings.Join(out, "/")
	if trailing && len(out) > 0 {
		p += "/"
	}
	return p, nil
}

// under reports whether path lies under prefix: prefix itself, or below
// it at a segment boundary (/shop covers /shop and /shop/cart, not
// /shopping; /shop/ covers what starts with it). fold compares ASCII
// letters without case, for sites that route that way; other characters
// are never folded (Unicode folding would match ſ to s where the site
// does not).
func under(path, prefix string, fold bool) bool {
	if len(path) < len(prefix) || !equal(path[:len(prefix)], prefix, fold) {
		return false
	}
	return len(path) == len(prefix) || strings.HasSuffix(prefix, "/") || path[len(prefix)] == '/'
}

func equal(a, b string, fold bool) bool {
	if !fold {
		return a == b
	}
	for i := 0; i < len(a); i++ {
		if lower(a[i]) != lower(b[i]) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
