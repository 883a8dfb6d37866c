package report

import (
	"regexp"
	"sort"
	"strings"
)

// Masker hides secrets in everything drill writes: the values of vars marked
// secret, and passwords inside URLs (scheme://user:password@host) and
// key/value DSNs (password=...).
type Masker struct {
	secrets []string
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
	for _, s := range secrets {
		if s != "" && s != masked {
			m.secrets = append(m.secrets, s)
		}
	}
	// Longest first, so that a secret containing another is masked whole.
	sort.Slice(m.secrets, func(i, j int) bool { return len(m.secrets[i]) > len(m.secrets[j]) })
	return m
}

// Mask returns s with every secret replaced by ***. A nil Masker masks the
// patterns only.
func (m *Masker) Mask(s string) string {
	s = urlPassword.ReplaceAllString(s, "${1}"+masked+"${3}")
	s = kvPassword.ReplaceAllString(s, "${1}"+masked)
	if m == nil {
		return s
	}
	for _, secret := range m.secrets {
		s = strings.ReplaceAll(s, secret, masked)
	}
	return s
}
