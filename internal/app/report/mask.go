package report

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Masker hides secrets in everything drill writes: the values of vars marked
// secret, in every spelling a writer or a message may give them (raw,
// Go-quoted, JSON-escaped, XML-escaped, URL-encoded), and passwords inside
// URLs (scheme://user:password@host) and key/value DSNs (password=...).
//
// Writers mask the model before they encode it (see Masked), never the
// encoded bytes: masking after encoding misses the escaped spellings and
// can break the document's syntax.
type Masker struct {
	secrets []string          // raw values, longest first
	r       *strings.Replacer // every spelling of every secret to ***
}

const masked = "***"

var (
	urlPassword = regexp.MustCompile(`([a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)([^@\s]+)(@)`)
	kvPassword  = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|[^\s'"]+)`)
)

// NewMasker masks the given secrets (empty strings are ignored) and the
// password patterns.
func NewMasker(secrets []string) *Masker {
	m := &Masker{}
	var spellings []string
	for _, s := range secrets {
		if s == "" || s == masked || slices.Contains(m.secrets, s) {
			continue
		}
		m.secrets = append(m.secrets, s)
		for _, sp := range Spellings(s) {
			if !slices.Contains(spellings, sp) {
				spellings = append(spellings, sp)
			}
		}
	}
	// Longest first, so that a secret containing another is masked whole:
	// the Replacer tries its pairs in argument order at each position.
	byLength := func(a, b string) int { return len(b) - len(a) }
	slices.SortStableFunc(m.secrets, byLength)
	slices.SortStableFunc(spellings, byLength)
	pairs := make([]string, 0, 2*len(spellings))
	for _, sp := range spellings {
		pairs = append(pairs, sp, masked)
	}
	m.r = strings.NewReplacer(pairs...)
	return m
}

// Spellings returns the ways s can appear in drill's output: as is, quoted
// by Go (%q, without the quotes), escaped for JSON (with and without HTML
// escaping), escaped for XML, and URL-encoded (query, path, user info).
func Spellings(s string) []string {
	out := []string{s}
	add := func(sp string) {
		if sp != "" && !slices.Contains(out, sp) {
			out = append(out, sp)
		}
	}
	add(unquote(strconv.Quote(s)))
	add(unquote(strconv.QuoteToASCII(s)))
	add(unquote(jsonString(s, true)))
	add(unquote(jsonString(s, false)))
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	add(b.String())
	add(url.QueryEscape(s))
	add(url.PathEscape(s))
	add(strings.TrimSuffix(url.User(s).String(), "@"))
	return out
}

func unquote(q string) string { return q[1 : len(q)-1] }

func jsonString(s string, html bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(b.String(), "\n")
}

// Mask returns s with every spelling of every secret, and the passwords of
// URLs and DSNs, replaced by ***. A nil Masker masks the patterns only.
// The secrets go first: a pattern that matched part of a secret (one with
// an @ in it) would leave the rest of it in clear.
func (m *Masker) Mask(s string) string {
	if m != nil && m.r != nil {
		s = m.r.Replace(s)
	}
	// The patterns are slow on long logs: run them only where they can match.
	if strings.Contains(s, "://") && strings.Contains(s, "@") {
		s = urlPassword.ReplaceAllString(s, "${1}"+masked+"${3}")
	}
	if strings.Contains(strings.ToLower(s), "password") {
		s = kvPassword.ReplaceAllString(s, "${1}"+masked)
	}
	return s
}

// credentialWords mark a name (an environment variable, a header) whose
// value is a credential.
var credentialWords = []string{"PASSWORD", "PASSWD", "TOKEN", "SECRET", "AUTHORIZATION", "APIKEY", "API_KEY", "PRIVATE_KEY"}

// IsCredentialName reports whether a variable or header called name holds a
// credential by its name alone: PGPASSWORD, GITHUB_TOKEN, Authorization...
func IsCredentialName(name string) bool {
	upper := strings.ToUpper(name)
	return slices.ContainsFunc(credentialWords, func(w string) bool { return strings.Contains(upper, w) })
}

// Masked returns a deep copy of v with every string in it masked: struct
// fields, map keys and values, slice elements, and strings inside
// interfaces. Writers call it on the model before encoding it, so that no
// encoder ever sees a secret. Unexported fields are copied as they are.
func Masked[T any](m *Masker, v T) T {
	rv := reflect.ValueOf(&v).Elem()
	out := reflect.New(rv.Type()).Elem()
	m.copyMasked(out, rv)
	return out.Interface().(T)
}

// copyMasked sets dst, a settable value of src's type, to a masked copy of
// src.
func (m *Masker) copyMasked(dst, src reflect.Value) {
	switch src.Kind() {
	case reflect.String:
		dst.SetString(m.Mask(src.String()))
	case reflect.Pointer:
		if src.IsNil() {
			return
		}
		p := reflect.New(src.Type().Elem())
		m.copyMasked(p.Elem(), src.Elem())
		dst.Set(p)
	case reflect.Interface:
		if src.IsNil() {
			return
		}
		inner := src.Elem()
		c := reflect.New(inner.Type()).Elem()
		m.copyMasked(c, inner)
		dst.Set(c)
	case reflect.Struct:
		dst.Set(src) // unexported fields (time.Time's) as they are
		for i := range src.NumField() {
			if dst.Field(i).CanSet() {
				m.copyMasked(dst.Field(i), src.Field(i))
			}
		}
	case reflect.Slice:
		if src.IsNil() {
			return
		}
		s := reflect.MakeSlice(src.Type(), src.Len(), src.Len())
		for i := range src.Len() {
			m.copyMasked(s.Index(i), src.Index(i))
		}
		dst.Set(s)
	case reflect.Array:
		for i := range src.Len() {
			m.copyMasked(dst.Index(i), src.Index(i))
		}
	case reflect.Map:
		if src.IsNil() {
			return
		}
		c := reflect.MakeMapWithSize(src.Type(), src.Len())
		for it := src.MapRange(); it.Next(); {
			k := reflect.New(src.Type().Key()).Elem()
			m.copyMasked(k, it.Key())
			v := reflect.New(src.Type().Elem()).Elem()
			m.copyMasked(v, it.Value())
			c.SetMapIndex(k, v)
		}
		dst.Set(c)
	default:
		dst.Set(src)
	}
}
