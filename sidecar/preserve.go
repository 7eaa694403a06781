package sidecar

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/textproto"
	"path"
	"strings"
)

// The client's own Authorization kept under another header
// (--preserve-authorization-as, issue 17), for an upstream that needs it
// behind IAM: a custom authorizer's token, an OpenSearch fine-grained
// user's Basic header. The copy is signed; its value never reaches a log.

// compilePreserved checks --preserve-authorization-as. It runs after
// compileHeaders, whose --unsigned-headers and --strip-headers the
// preserved header must escape.
func (c *compiled) compilePreserved() error {
	name := strings.TrimSpace(c.cfg.PreserveAuthorizationAs)
	if name == "" {
		return nil
	}
	if problem := c.preservedHeaderProblem(name); problem != "" {
		return optionError("PreserveAuthorizationAs", c.cfg.PreserveAuthorizationAs, problem)
	}
	c.preservedAuthorization = textproto.CanonicalMIMEHeaderKey(name)
	return nil
}

// hopByHopHeaders are the headers a proxy removes before forwarding
// (RFC 9110 section 7.6.1, and net/http/httputil's list).
var hopByHopHeaders = []string{"connection", "proxy-connection", "keep-alive", "proxy-authenticate",
	"proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"}

// preservedHeaderProblem says why name cannot carry the client's
// Authorization, or "" when it can: the copy must reach the upstream, be
// signed, and be a header AWS and the proxy leave alone.
func (c *compiled) preservedHeaderProblem(name string) string {
	for i := 0; i < len(name); i++ {
		if !isTokenByte(name[i]) {
			return "not a header name (RFC 9110 token characters only)"
		}
	}
	lower := strings.ToLower(name)
	switch {
	case lower == "authorization":
		return "that is the header the proxy replaces with its signature: name another one, such as X-Original-Authorization"
	case strings.HasPrefix(lower, "x-amz-"):
		return "X-Amz-* headers are AWS's own (the signer sets some, and AWS reads them all): name another one"
	case lower == "host" || lower == "content-length" || lower == "content-encoding":
		return "the proxy sets it for the request it sends: name another one"
	}
	for _, h := range hopByHopHeaders {
		if lower == h {
			return "a hop-by-hop header, which a proxy never forwards: name another one"
		}
	}
	if c.unsignedHeader(lower) {
		return "it would be left out of the signature (--unsigned-headers, or one the proxy never signs): name another one"
	}
	for _, g := range c.strip {
		if ok, _ := path.Match(g, lower); ok {
			return "--strip-headers would remove it: name another one"
		}
	}
	return ""
}

// checkPreservedAuthorization refuses a request that carries both
// Authorization and the header --preserve-authorization-as copies it to:
// one of the two values would have to go.
func (c *compiled) checkPreservedAuthorization(h http.Header) error {
	return checkPreserved(h, c.preservedAuthorization)
}

// preserveAuthorization copies the client's Authorization in h to the
// --preserve-authorization-as header, before the proxy removes it for its
// own signature. The copy is signed with the rest of the request (its
// name is one the signer signs, compilePreserved). h is the outbound
// request's header; it is modified in place.
func (c *compiled) preserveAuthorization(h http.Header) {
	copyPreserved(h, c.preservedAuthorization)
}

func checkPreserved(h http.Header, name string) error {
	if name == "" {
		return nil
	}
	if _, ok := h["Authorization"]; !ok {
		return nil
	}
	if _, ok := h[name]; ok {
		return &RequestError{Code: CodeBadRequest, Message: "the request carries both Authorization and " + name +
			", the header --preserve-authorization-as copies Authorization to: send only Authorization"}
	}
	return nil
}

func copyPreserved(h http.Header, name string) {
	if name == "" {
		return
	}
	if v, ok := h["Authorization"]; ok {
		h[name] = append([]string(nil), v...)
	}
}

// PreserveAuthorization does to h what the proxy does to a request under
// c's --preserve-authorization-as before signing it: it returns the
// header's canonical name ("" when the option is off) after copying h's
// Authorization to it. An unfit name is an *OptionError, and h carrying
// both headers a *RequestError, as the proxy answers it. For commands that
// sign as the proxy does (explain); h is modified in place.
func (c Config) PreserveAuthorization(h http.Header) (string, error) {
	cc := &compiled{cfg: c}
	if err := cc.compileHeaders(); err != nil {
		return "", err
	}
	if err := cc.compilePreserved(); err != nil {
		return "", err
	}
	name := cc.preservedAuthorization
	if err := checkPreserved(h, name); err != nil {
		return "", err
	}
	copyPreserved(h, name)
	return name, nil
}

// hide replaces, in s (a canonical request, or an AWS error message that
// may quote one), the value of the --preserve-authorization-as header of
// req with a short fingerprint: enough to tell two values apart, nothing of
// the client's credentials. A canonical request's line for the header
// loses its value whatever it is (the server's may differ from ours).
func (w *signatureWatcher) hide(req *http.Request, s string) string {
	if w.hidden == "" || s == "" {
		return s
	}
	prefix := w.hidden + ":"
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if value, ok := strings.CutPrefix(l, prefix); ok {
			lines[i] = prefix + fingerprint(value)
		}
	}
	s = strings.Join(lines, "\n")
	for _, v := range req.Header.Values(w.hidden) {
		for _, form := range []string{v, strings.Join(strings.Fields(v), " ")} {
			if len(form) >= minHiddenValue {
				s = strings.ReplaceAll(s, form, fingerprint(form))
			}
		}
	}
	return s
}

// minHiddenValue is the shortest value hide looks for in free text: a
// shorter one would turn up inside unrelated words.
const minHiddenValue = 6

// fingerprint stands for a hidden value in a log: two bytes of its
// SHA-256.
func fingerprint(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "<hidden " + hex.EncodeToString(sum[:2]) + ">"
}
