package diagnose

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strconv"
	"strings"

	"github.com/sigv4-sidecar/sigv4-sidecar/awserror"
	"github.com/sigv4-sidecar/sigv4-sidecar/signer"
)

// DiffLine is one line of a line-by-line diff: Op is ' ' (both), '-' (the
// server's only) or '+' (ours only).
type DiffLine struct {
	Op   byte
	Text string
}

// Comparison is what CompareWithServer found.
type Comparison struct {
	// Diff is the server's canonical request (-) against ours (+), session
	// tokens and signatures redacted; nil when either side is unknown.
	Diff []DiffLine
	// Part names the first differing part of the canonical request:
	// "method", "path", "query", "header <name>", "signed headers",
	// "payload hash", or "" when none differs or either side is unknown.
	Part string
	// Problems holds what the differences mean.
	Problems []Problem
}

// FormatDiff renders d with "- " for the server's lines, "+ " for ours and
// "  " for lines both share, one per line.
func FormatDiff(d []DiffLine) string {
	var b strings.Builder
	for _, l := range d {
		b.WriteByte(l.Op)
		b.WriteByte(' ')
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

// CompareWithServer compares what we signed (ours, from signing with
// signer.Options.Debug, or from signer.Recompute) with the canonical request
// and string to sign the server computed (from its error body), names the
// first part that differs and what it means. A server that computed our very string to sign yet
// rejected the signature was given another secret: wrong-secret.
func CompareWithServer(ours signer.Result, server awserror.Answer) Comparison {
	var c Comparison
	canonicalKnown := ours.CanonicalRequest != "" && server.CanonicalRequest != ""
	if canonicalKnown && ours.CanonicalRequest != server.CanonicalRequest {
		c.Diff = diffLines(splitRedacted(server.CanonicalRequest), splitRedacted(ours.CanonicalRequest))
		var p Problem
		c.Part, p = firstDifference(server.CanonicalRequest, ours.CanonicalRequest)
		c.Problems = append(c.Problems, p)
	}
	if ours.StringToSign == "" || server.StringToSign == "" {
		return c
	}
	if ours.StringToSign == server.StringToSign {
		if !canonicalKnown || ours.CanonicalRequest == server.CanonicalRequest {
			c.Problems = append(c.Problems, problem(CodeWrongSecret, "the server computed the same string to sign as ours and still rejected the signature"))
		}
		return c
	}
	sl, ol := strings.Split(server.StringToSign, "\n"), strings.Split(ours.StringToSign, "\n")
	line := func(l []string, i int) string {
		if i < len(l) {
			return l[i]
		}
		return ""
	}
	if line(sl, 1) != line(ol, 1) {
		c.Problems = append(c.Problems, problem(CodeTimestampDiffers, "the server's timestamp is "+signer.QuoteShort(line(sl, 1))+", ours "+signer.QuoteShort(line(ol, 1))))
	}
	theirs, ourScope := strings.Split(line(sl, 2), "/"), strings.Split(line(ol, 2), "/")
	if len(theirs) == 4 && len(ourScope) == 4 {
		if theirs[0] != ourScope[0] {
			c.Problems = append(c.Problems, problem(CodeDateScopeMismatch, "the server's scope date is "+theirs[0]+", ours "+ourScope[0]))
		}
		if theirs[1] != ourScope[1] {
			c.Problems = append(c.Problems, problem(CodeWrongRegion, "the server signs for region "+signer.QuoteShort(theirs[1])+", we signed for "+signer.QuoteShort(ourScope[1])))
		}
		if theirs[2] != ourScope[2] {
			c.Problems = append(c.Problems, problem(CodeWrongService, "the server signs for service "+signer.QuoteShort(theirs[2])+", we signed for "+signer.QuoteShort(ourScope[2])))
		}
	}
	if line(sl, 3) != line(ol, 3) && !canonicalKnown {
		c.Problems = append(c.Problems, problem(CodeCanonicalDiffers, "the hash of the server's canonical request differs from ours"))
	}
	return c
}

// canonicalParts is a canonical request cut into its parts.
type canonicalParts struct {
	method, path, query string
	headers             []string // "name:value" lines
	signedHeaders       string
	payloadHash         string
}

func parseCanonical(s string) (canonicalParts, bool) {
	l := strings.Split(s, "\n")
	if len(l) < 6 || l[len(l)-3] != "" {
		return canonicalParts{}, false
	}
	return canonicalParts{
		method: l[0], path: l[1], query: l[2],
		headers:       l[3 : len(l)-3],
		signedHeaders: l[len(l)-2],
		payloadHash:   l[len(l)-1],
	}, true
}

// firstDifference names the first part in which the server's canonical
// request differs from ours, in the order the parts appear.
func firstDifference(server, ours string) (string, Problem) {
	s, sok := parseCanonical(server)
	o, ook := parseCanonical(ours)
	if !sok || !ook {
		sl, ol := strings.Split(server, "\n"), strings.Split(ours, "\n")
		n := 0
		for n < len(sl) && n < len(ol) && sl[n] == ol[n] {
			n++
		}
		return "line " + strconv.Itoa(n+1), problem(CodeCanonicalDiffers, "the canonical requests first differ at line "+strconv.Itoa(n+1))
	}
	differs := func(what, theirs, mine string) string {
		return "the " + what + " differs: the server has " + signer.QuoteShort(theirs) + ", we signed " + signer.QuoteShort(mine)
	}
	switch {
	case s.method != o.method:
		return "method", problem(CodeMethodDiffers, differs("method", s.method, o.method))
	case s.path != o.path:
		return "path", problem(CodePathDiffers, differs("canonical URI", s.path, o.path))
	case s.query != o.query:
		return "query", problem(CodeQueryDiffers, differs("canonical query string", redactQuery(s.query), redactQuery(o.query)))
	}
	sh, oh := headerMap(s.headers), headerMap(o.headers)
	names := make([]string, 0, len(sh)+len(oh))
	for n := range sh {
		names = append(names, n)
	}
	for n := range oh {
		if _, ok := sh[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		sv, sIn := sh[n]
		ov, oIn := oh[n]
		switch {
		case !sIn:
			return "header " + n, problem(CodeHeaderDiffers, "we signed header "+n+"; the server's canonical request does not have it")
		case !oIn:
			return "header " + n, problem(CodeHeaderDiffers, "the server's canonical request has header "+n+", which we did not sign")
		case sv != ov:
			return "header " + n, problem(CodeHeaderDiffers, "header "+n+" differs: the server has "+signer.QuoteShort(redactHeaderValue(n, sv))+", we signed "+signer.QuoteShort(redactHeaderValue(n, ov)))
		}
	}
	switch {
	case s.signedHeaders != o.signedHeaders:
		return "signed headers", problem(CodeSignedHeadersDiffer, differs("signed headers list", s.signedHeaders, o.signedHeaders))
	case s.payloadHash != o.payloadHash:
		return "payload hash", problem(CodePayloadHashDiffers, differs("payload hash", s.payloadHash, o.payloadHash))
	}
	return "", problem(CodeCanonicalDiffers, "the canonical requests differ in white space only")
}

func headerMap(lines []string) map[string]string {
	m := make(map[string]string, len(lines))
	for _, l := range lines {
		name, value, _ := strings.Cut(l, ":")
		if _, dup := m[name]; !dup {
			m[name] = value
		}
	}
	return m
}

// splitRedacted splits a canonical request into lines with the session
// token's value and presigned signatures hidden; a short fingerprint of a
// hidden value still shows whether the two sides hold the same one.
func splitRedacted(s string) []string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if name, value, ok := strings.Cut(l, ":"); ok && isTokenHeader(name) {
			lines[i] = name + ":" + redactHeaderValue(name, value)
		}
		if i == 2 {
			lines[i] = redactQuery(l)
		}
	}
	return lines
}

func redactHeaderValue(name, value string) string {
	if !isTokenHeader(name) {
		return value
	}
	return fingerprint(value)
}

// isTokenHeader reports whether the lowercase header name carries a
// session token: x-amz-security-token, or S3 Express's
// x-amz-s3session-token.
func isTokenHeader(name string) bool {
	return name == "x-amz-security-token" || name == "x-amz-s3session-token"
}

func fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "<redacted " + hex.EncodeToString(sum[:2]) + ">"
}

func redactQuery(q string) string {
	if !strings.Contains(q, "X-Amz-Signature=") && !strings.Contains(q, "X-Amz-Security-Token=") {
		return q
	}
	parts := strings.Split(q, "&")
	for i, p := range parts {
		k, v, _ := strings.Cut(p, "=")
		if k == "X-Amz-Signature" || k == "X-Amz-Security-Token" {
			parts[i] = k + "=" + fingerprint(v)
		}
	}
	return strings.Join(parts, "&")
}

// maxDiffCells bounds the LCS table; beyond it the diff pairs lines by position.
const maxDiffCells = 1 << 20

// diffLines is a longest-common-subsequence line diff of a (-) against b (+).
func diffLines(a, b []string) []DiffLine {
	if len(a)*len(b) > maxDiffCells {
		var d []DiffLine
		for i := 0; i < len(a) || i < len(b); i++ {
			switch {
			case i < len(a) && i < len(b) && a[i] == b[i]:
				d = append(d, DiffLine{' ', a[i]})
			default:
				if i < len(a) {
					d = append(d, DiffLine{'-', a[i]})
				}
				if i < len(b) {
					d = append(d, DiffLine{'+', b[i]})
				}
			}
		}
		return d
	}
	// lcs[i][j] is the LCS length of a[i:] and b[j:].
	w := len(b) + 1
	lcs := make([]int, (len(a)+1)*w)
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
			} else {
				lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
			}
		}
	}
	var d []DiffLine
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		switch {
		case a[i] == b[j]:
			d = append(d, DiffLine{' ', a[i]})
			i++
			j++
		case lcs[(i+1)*w+j] >= lcs[i*w+j+1]:
			d = append(d, DiffLine{'-', a[i]})
			i++
		default:
			d = append(d, DiffLine{'+', b[j]})
			j++
		}
	}
	for ; i < len(a); i++ {
		d = append(d, DiffLine{'-', a[i]})
	}
	for ; j < len(b); j++ {
		d = append(d, DiffLine{'+', b[j]})
	}
	return d
}

// RedactCanonicalRequest hides the session token's value and presigned
// signatures in a canonical request, leaving a short fingerprint, so that
// it can be logged.
func RedactCanonicalRequest(s string) string {
	return strings.Join(splitRedacted(s), "\n")
}
