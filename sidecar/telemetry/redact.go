package telemetry

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
)

// Redacted replaces every secret Redact finds.
const Redacted = "[REDACTED]"

// Redact wraps h so that no record reaches it carrying what looks like a
// secret: attributes whose key names one (authorization, secret, token,
// signature, password, signing/derived key) lose their value, and every
// message and string value is scrubbed of SigV4 signatures, security tokens
// in query strings, bearer tokens, JWTs and values shaped like secret access
// keys or session tokens. http.Header and url.Values are copied with their
// secret entries redacted; errors and other values are scrubbed through their
// string form when it holds a secret.
//
// It is a last line of defence: the code must not log secrets in the first
// place (creds.Credentials and signer.Result are safe to log). Safe for
// concurrent use when h is.
func Redact(h slog.Handler) slog.Handler {
	if r, ok := h.(*redactor); ok {
		return r
	}
	return &redactor{next: h}
}

type redactor struct{ next slog.Handler }

func (r *redactor) Enabled(ctx context.Context, l slog.Level) bool { return r.next.Enabled(ctx, l) }

func (r *redactor) Handle(ctx context.Context, rec slog.Record) error {
	msg := scrub(rec.Message)
	clean := msg == rec.Message
	if clean {
		rec.Attrs(func(a slog.Attr) bool {
			clean = !needsRedaction(a)
			return clean
		})
	}
	if clean {
		return r.next.Handle(ctx, rec) // the common case: nothing to copy
	}
	out := slog.NewRecord(rec.Time, rec.Level, msg, rec.PC)
	rec.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return r.next.Handle(ctx, out)
}

// needsRedaction reports whether redactAttr would change a.
func needsRedaction(a slog.Attr) bool {
	if IsSecretKey(a.Key) && a.Value.Kind() != slog.KindGroup {
		return true
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		s := v.String()
		return scrub(s) != s
	case slog.KindGroup:
		for _, g := range v.Group() {
			if needsRedaction(g) {
				return true
			}
		}
		return false
	case slog.KindAny, slog.KindLogValuer:
		return true // rare; redactAny decides
	}
	return false
}

func (r *redactor) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = redactAttr(a)
	}
	return &redactor{next: r.next.WithAttrs(clean)}
}

func (r *redactor) WithGroup(name string) slog.Handler {
	return &redactor{next: r.next.WithGroup(name)}
}

// IsSecretKey reports whether an attribute or header name says its value is
// a secret: Authorization, X-Amz-Security-Token, X-Amz-Signature,
// secret_access_key, session_token, password, signing_key, ...
func IsSecretKey(key string) bool {
	for _, w := range []string{"authorization", "secret", "token", "password", "passwd", "signature", "cookie"} {
		if containsFold(key, w) {
			return true
		}
	}
	if !containsFold(key, "key") {
		return false
	}
	k := strings.Map(func(r rune) rune {
		switch r {
		case '-', '_', '.', ' ':
			return -1
		}
		return r
	}, strings.ToLower(key))
	for _, w := range []string{"signingkey", "derivedkey", "privatekey", "apikey"} {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

func redactAttr(a slog.Attr) slog.Attr {
	if IsSecretKey(a.Key) && a.Value.Kind() != slog.KindGroup {
		return slog.String(a.Key, Redacted)
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, scrub(v.String()))
	case slog.KindGroup:
		group := v.Group()
		clean := make([]any, len(group))
		for i, g := range group {
			clean[i] = redactAttr(g)
		}
		return slog.Group(a.Key, clean...)
	case slog.KindAny:
		return slog.Any(a.Key, redactAny(v.Any()))
	}
	return slog.Attr{Key: a.Key, Value: v}
}

func redactAny(x any) any {
	switch t := x.(type) {
	case http.Header:
		return redactMultimap(t)
	case url.Values:
		return url.Values(redactMultimap(t))
	case map[string][]string:
		return redactMultimap(t)
	case map[string]string:
		out := make(map[string]string, len(t))
		for k, v := range t {
			if IsSecretKey(k) {
				v = Redacted
			} else {
				v = scrub(v)
			}
			out[k] = v
		}
		return out
	case *url.URL:
		if t == nil {
			return t
		}
		return scrub(t.String())
	case error:
		return scrubbedIfChanged(t, t.Error())
	case fmt.Stringer:
		return scrubbedIfChanged(t, t.String())
	case []byte:
		return scrubbedIfChanged(t, string(t))
	}
	return scrubbedIfChanged(x, fmt.Sprintf("%+v", x))
}

// scrubbedIfChanged keeps x as it is (so that the JSON handler can still
// marshal it) unless its string form holds a secret, in which case the
// scrubbed string replaces it.
func scrubbedIfChanged(x any, s string) any {
	if c := scrub(s); c != s {
		return c
	}
	return x
}

func redactMultimap[M ~map[string][]string](m M) M {
	out := make(M, len(m))
	for k, vs := range m {
		clean := make([]string, len(vs))
		for i, v := range vs {
			if IsSecretKey(k) {
				clean[i] = Redacted
			} else {
				clean[i] = scrub(v)
			}
		}
		out[k] = clean
	}
	return out
}

var (
	// Signature=<hex> in an Authorization header, X-Amz-Signature=<hex> in a
	// presigned URL, chunk-signature=<hex> in aws-chunked bodies.
	signatureRE = regexp.MustCompile(`(?i)(signature\s*[=:]\s*"?)[0-9a-f]{16,}`)
	// A query parameter or assignment carrying a token or secret:
	// X-Amz-Security-Token=..., aws_secret_access_key = ..., "SessionToken":"...".
	assignedSecretRE = regexp.MustCompile(`(?i)((?:security[-_]?token|session[-_]?token|secret[-_]?access[-_]?key|secretkey|password)"?\s*[=:]\s*"?)[^&\s",;}]+`)
	bearerRE         = regexp.MustCompile(`(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+`)
	jwtRE            = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)
	// Runs of base64 characters: a 40-character one with lower, upper and
	// digits is shaped like a secret access key; one of 100 or more like a
	// session token.
	base64RunRE = regexp.MustCompile(`[A-Za-z0-9/+=]{40,}`)
)

// scrub removes what looks like a secret from s. Cheap checks decide which
// patterns can match at all, so that ordinary values (most of a log line)
// cost a scan, not five regular expressions.
func scrub(s string) string {
	if len(s) < 16 {
		return s
	}
	if containsFold(s, "signature") {
		s = signatureRE.ReplaceAllString(s, "${1}"+Redacted)
	}
	if containsFold(s, "token") || containsFold(s, "secret") || containsFold(s, "password") {
		s = assignedSecretRE.ReplaceAllString(s, "${1}"+Redacted)
	}
	if containsFold(s, "bearer") {
		s = bearerRE.ReplaceAllString(s, "${1}"+Redacted)
	}
	if strings.Contains(s, "eyJ") {
		s = jwtRE.ReplaceAllString(s, Redacted)
	}
	if longestBase64Run(s) >= 40 {
		s = base64RunRE.ReplaceAllStringFunc(s, func(run string) string {
			if len(run) >= 100 || (len(run) == 40 && hasLowerUpperDigit(run)) {
				return Redacted
			}
			return run
		})
	}
	return s
}

// containsFold reports whether s contains the lowercase ASCII word sub, in
// any case, without allocating.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i]|0x20 == sub[0] && strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

func longestBase64Run(s string) int {
	longest, run := 0, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '/' || c == '+' || c == '=' {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}

func hasLowerUpperDigit(s string) bool {
	var lower, upper, digit bool
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			lower = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= '0' && r <= '9':
			digit = true
		}
	}
	return lower && upper && digit
}
